-- One campaign schema (issue 14): the settings the API stored as initial_dial_level / max_dial_level are now
-- pacing.vicidial.initial_level / maximum_level (the keys scenario and run files use). The drop limit and the
-- predictive target the old settings derived from abandon_cap are written out, so a stored campaign paces as before.
UPDATE campaigns SET config = (
    (config::jsonb - 'initial_dial_level' - 'max_dial_level')
    || jsonb_build_object('pacing', jsonb_build_object(
        'vicidial', jsonb_build_object(
            'initial_level', COALESCE(config::jsonb -> 'initial_dial_level', '1.0'::jsonb),
            'maximum_level', COALESCE(config::jsonb -> 'max_dial_level', '3.0'::jsonb),
            'dropped_percentage', COALESCE((config::jsonb ->> 'abandon_cap')::float8, 0.03) * 100,
            'intensity', 0, 'dl_diff_target', 0),
        'predictive', jsonb_build_object(
            'target_abandon_rate', COALESCE((config::jsonb ->> 'abandon_cap')::float8, 0.03) * 2 / 3,
            'gain', 0.25, 'max_credit', 6, 'interval_seconds', 0.25)))
    -- the API's old default pacer, for a row that never wrote one
    || CASE WHEN config::jsonb ? 'pacer' THEN '{}'::jsonb ELSE '{"pacer": "vicidial-tapered"}'::jsonb END
)::text
WHERE NOT config::jsonb ? 'pacing';
