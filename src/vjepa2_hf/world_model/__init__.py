"""world_model"""
