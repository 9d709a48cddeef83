"""Endpoints of the rings group (being built)."""

from fastapi import APIRouter

router = APIRouter()
