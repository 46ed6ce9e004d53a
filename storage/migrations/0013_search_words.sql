-- depends: 0012_search
-- Word search over a GIN index of run_search.words instead of substring search over a
-- trigram index of run_search.folded (docs/search.md): with the trigram index, inserting a
-- run's search row cost 5 ms (0.12 ms without any index) and the index took 7 kB a run.
--
-- words: the stripped 'simple' tsvector of mapping.search_document.words_text(body): the body
--   folded, CJK runs as overlapping bigrams. Rows written before keep their old words until
--   derived again (`agentguide rederive`: the mapping version changed).
-- The GIN index keeps a pending list of at most 256 kB, like the attributes index: every
-- search reads the list whole, in each day partition, until it is merged (when full, and by
-- (auto)vacuum or autoanalyze), and the pages a list took stay in the partition's index after
-- the merge. 4 MB made inserts about 40% cheaper, but a day partition of fewer runs than fill
-- it kept them all in the list, read by every search, and 4 MB of index (docs/search.md).
DROP INDEX IF EXISTS run_search_folded;
ALTER TABLE run_search DROP COLUMN folded;
CREATE INDEX run_search_words ON run_search USING gin (words)
    WITH (gin_pending_list_limit = 256);

-- The tsquery of one searched word (its words_text): every lexeme the 'simple' configuration
-- makes of it must occur, each as a prefix ('weath' finds 'weather') except a lexeme of one
-- or two ASCII characters, which matches only itself (a prefix that short would find nearly
-- every run). Immutable, so a constant argument is folded at planning and the planner sees
-- the tsquery. Lexemes are quoted for the tsquery syntax ('' for ', \\ for \).
CREATE FUNCTION search_word_query(word text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT coalesce(string_agg(
            '''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || ''''
                || CASE WHEN lexeme ~ '^[[:ascii:]]{1,2}$' THEN '' ELSE ':*' END,
            ' & '), '')::tsquery
        FROM unnest(tsvector_to_array(to_tsvector('simple', word))) AS lexeme
    $$;
