"""Hengqin typhoon coordination: the coordinator application."""

__version__ = "0.1.0"
