"""Teaching and planning tools: approaches compared, MUML, simulation, examples."""
