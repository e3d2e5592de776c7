"""STS (query protocol): GetCallerIdentity for the authenticated caller."""
