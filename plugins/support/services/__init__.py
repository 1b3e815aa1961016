"""The support plugin's services: tickets (``tickets``), the FAQ bot (``faq``), who may read a ticket
(``access``)."""
