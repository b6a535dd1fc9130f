"""Typer command modules; each parses options, calls one library function, renders."""
