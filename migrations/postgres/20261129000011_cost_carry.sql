-- The upstream cost of rated usage is posted to the money book (Dr cost_of_revenue / Cr
-- accrued_provider_cost), at most 8 decimals; what each charge leaves below that is carried per
-- account, meter and currency: a JSON array of [meter, currency, amount], empty when nothing.
ALTER TABLE accounts ADD COLUMN cost_carry TEXT NOT NULL DEFAULT '';
