"""Endpoints of the operations group (being built)."""

from fastapi import APIRouter

router = APIRouter()
