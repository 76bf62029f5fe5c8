"""Tests of mesiji.domain."""
