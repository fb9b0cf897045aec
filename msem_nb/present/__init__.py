"""Presentation: number formatting, text and HTML summaries, reports, diagrams."""
