"""Shares: create, revoke, resend and accept (service.py), the pipeline that prepares a share
(pipeline.py), the token that opens it (tokens.py), and its passcode's rules (passcodes.py)."""
