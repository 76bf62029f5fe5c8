"""Tests of the mesiji command."""
