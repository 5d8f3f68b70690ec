"""Customer notifications: e-mail composed from templates (email.py), sent over SMTP or kept in
a local mailbox, and SMS (sms.py)."""
