"""The support plugin's services: tickets and their changes (``tickets``), reading them
(``ticket_lists``), the FAQ bot (``faq``), who may read a ticket (``access``)."""
