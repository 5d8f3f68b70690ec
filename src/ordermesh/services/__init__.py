"""Services: commands, their handlers, the unit of work port and the message bus."""
