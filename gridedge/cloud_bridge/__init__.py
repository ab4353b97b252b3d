"""cloud_bridge"""
