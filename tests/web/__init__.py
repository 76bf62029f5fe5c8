"""Tests of the HTTP APIs."""
