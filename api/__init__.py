"""The FastAPI application (routes, dependencies, auth, investigator pages). Not written yet.

Library code never imports ``api``.
"""
