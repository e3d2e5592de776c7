"""Who is calling: SigV4 parsing and verification, accounts and access keys."""
