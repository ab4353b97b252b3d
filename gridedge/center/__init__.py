"""center"""
