"""Test doubles shipped with the package so tests, benchmarks and users share them."""
