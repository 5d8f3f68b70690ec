"""Documents: printable and exportable renderings of our records (PDF, CSV)."""
