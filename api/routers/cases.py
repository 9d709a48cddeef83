"""Endpoints of the cases group (being built)."""

from fastapi import APIRouter

router = APIRouter()
