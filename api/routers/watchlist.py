"""Endpoints of the watchlist group (being built)."""

from fastapi import APIRouter

router = APIRouter()
