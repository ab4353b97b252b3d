"""Southbound drivers: each turns a transport into Readings for the devices bound to it."""
