"""The earnings plugin's services: read-only figures from the core ledger and balances, and the referral
bonus (which writes through the core ledger)."""
