"""Perpetua Flow plumbing shared by every layer; imports nothing of ours."""
