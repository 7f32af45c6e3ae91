-- The owners before the current one whose channels of the campaign may still be on Asterisk (a JSON array of node
-- names, the most recent first): each takeover adds the owner it took over from. Agent lines outlive their owner (a new
-- owner takes them back under the ids they have), so the third owner must know the first: with only the last one it
-- neither followed nor hung up the first owner's lines (real cl1/cl2: 8 channels left after two takeovers).
ALTER TABLE campaign_owners ADD COLUMN taken_over TEXT;
