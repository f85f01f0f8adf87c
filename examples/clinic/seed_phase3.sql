-- The seed audit's own Phase 3 migration (Steps 3.1–3.3), as its team proposed to run it.
-- `tenantguard demo` applies it after the first audit to show what it fixes — and that
-- Step 3.1's `USING (true)` on organizations lets every clinic read every clinic.

-- Step 3.1: Enable RLS on Organizations Table
ALTER TABLE public.organizations ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Organizations - System Read Access"
  ON public.organizations
  FOR SELECT
  USING (true); -- System queries need this; restrict in production with proper auth context

-- Step 3.2: Enable RLS on sms_confirmation_logs
ALTER TABLE public.sms_confirmation_logs ENABLE ROW LEVEL SECURITY;

CREATE POLICY "SMS Logs - Organization Isolation"
  ON public.sms_confirmation_logs
  FOR ALL
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- Step 3.3: Enable RLS on appointment_bookings
ALTER TABLE public.appointment_bookings ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Appointment Bookings - Organization Isolation"
  ON public.appointment_bookings
  FOR ALL
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
