-- smsprobe ledger, migration 11: the parts a vendor says it billed, per submission
-- (docs/vendors.md, "Billed parts"). probes.billed_parts: the vendor's own figure (NULL:
-- it reported none), billed_from: where that figure came from, e.g.
-- "submit:Response.SendStatusSet[0].Fee" (the submit answer at that path), "acks:smpp"
-- (one submit_sm_resp message_id per part), "dlr:push:sms_size" (a report item of the
-- attributed DLR). dlrs.billed_parts: the figure a report item carried (Alibaba SmsReport
-- sms_size), copied to its probe when the DLR is attributed and the probe has none yet.
ALTER TABLE probes ADD COLUMN billed_parts INTEGER;
ALTER TABLE probes ADD COLUMN billed_from TEXT NOT NULL DEFAULT '';
ALTER TABLE dlrs ADD COLUMN billed_parts INTEGER;
ALTER TABLE dlrs ADD COLUMN billed_from TEXT NOT NULL DEFAULT '';
