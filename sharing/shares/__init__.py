"""Shares: create, revoke, resend and accept (service.py), the pipeline that prepares a share
(pipeline.py), the token that opens it (tokens.py), its passcode quality (passcodes.py) and lockout (lockout.py)."""
