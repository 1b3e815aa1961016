"""The publish plugin's services: connected accounts, the assignment queue, posting."""
