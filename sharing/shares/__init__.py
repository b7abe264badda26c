"""Shares: create, revoke, resend and accept (service.py), the pipeline that prepares a share
(pipeline.py), and the token that opens it (tokens.py)."""
