"""The HTTP service: a FastAPI application over :mod:`tianwang.service`.

``api/`` holds HTTP and nothing else: :mod:`api.app` builds the application
(:func:`api.app.create_app`), :mod:`api.deps` is the one place its dependencies come
from (the service, the caller, role checks), :mod:`api.errors` turns Tianwang's errors
into JSON error bodies, :mod:`api.schemas` holds the bodies' models, and each module
of :mod:`api.routers` is one small group of endpoints. Library code never imports ``api``.
"""
