"""Tests of mesiji.text."""
