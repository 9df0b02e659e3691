"""matchers/dense"""
