"""Pure economics of the simulator (numpy and scipy only, no Mesa).

Agents, the model, the analysis and the tests all call these functions, so every formula
lives in exactly one place.
"""
