"""Shares: create, revoke, resend and accept (service.py); the life cycle, the only writer of a
share's state (lifecycle.py); the prepare stage (pipeline.py with publish.py, exclusions.py,
lease.py); the link's token (tokens.py), its passcode quality (passcodes.py) and lockout
(lockout.py); the sweep (sweep.py)."""
