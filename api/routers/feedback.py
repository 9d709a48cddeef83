"""Endpoints of the feedback group (being built)."""

from fastapi import APIRouter

router = APIRouter()
