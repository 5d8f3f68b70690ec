"""The domain: plain Python rules of orders, stock and money. Standard library only."""
