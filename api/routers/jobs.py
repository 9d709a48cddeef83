"""Endpoints of the jobs group (being built)."""

from fastapi import APIRouter

router = APIRouter()
