"""Endpoints of the analysts group (being built)."""

from fastapi import APIRouter

router = APIRouter()
