"""The version of the mapping rules: stored with every derived row.

Raise it whenever a change to ``mapping`` changes what a stored span derives to; ``agentguide
serve`` then says that stored runs come from an older mapping, and ``agentguide rederive``
derives them again.
"""

MAPPING_VERSION = 9  # 4: LangGraph, smolagents, CrewAI, LlamaIndex; 5: Agno, Strands, Google ADK,
# the OTel openai-agents-v2 instrumentation by their own rules (issue 11); 6: events sent as
# log records are their span's events (messages, choices, inference details), and
# gen_ai.evaluation.result events become scores (issue 13); 7: session and user ids from
# Traceloop association properties, Vercel AI telemetry metadata, ADK schema 1, LangChain
# metadata, Langfuse, user.id / enduser.id (issue 15); 8: the span attributes and search
# documents of runs (issue 15); 9: search words from words_text (CJK bigrams), not the folded
# body
