-- examples/clinic/schema.sql
--
-- A clinic-booking SaaS (voice agent that books appointments for clinics) as
-- described by the hand-run audit in shared/seed: tenant = organization,
-- tenant key `org_id uuid`, RLS policies on the JWT claim `organization_id`.
-- State: at audit time, BEFORE the audit's Phase 3 migrations.
--
-- Load order (superuser, empty database):
--   crates/pg-harness/sql/supabase_base.sql, then this file, then data.sql.
--
-- 59 tables in public:
--   organizations (tenant root, RLS disabled)
--   52 tables with a direct org_id (2 of them, sms_confirmation_logs and
--      appointment_bookings, with RLS disabled)
--   3 indirectly tenanted tables (appointment_reminders, campaign_steps,
--      call_transcript_segments) scoped through their parent's FK
--   3 global tables (timezones, plans, feature_flags)
--
-- Planted defects (see README.md): D1 call_recordings (NOT VALID FK, added in
-- data.sql), D2 webhook_deliveries (no FK), D3 voice_call_events (nullable
-- org_id), D4 cold_call_logs (ON DELETE NO ACTION), D5 call_transcripts (no
-- org_id index), D6 appointment_holds (a cross-tenant row, in data.sql).

CREATE TYPE public.appointment_status AS ENUM ('scheduled', 'confirmed', 'completed', 'cancelled', 'no_show');
CREATE TYPE public.call_direction AS ENUM ('inbound', 'outbound');

-- ------------------------------------------------------------------------
-- timezones
-- ------------------------------------------------------------------------
CREATE TABLE public.timezones (
  name       text PRIMARY KEY,
  utc_offset interval NOT NULL
);
ALTER TABLE public.timezones ENABLE ROW LEVEL SECURITY;
CREATE POLICY "timezones - Read Access"
  ON public.timezones
  FOR SELECT
  USING (true);

-- ------------------------------------------------------------------------
-- plans
-- ------------------------------------------------------------------------
CREATE TABLE public.plans (
  id                  text PRIMARY KEY,
  name                text NOT NULL,
  monthly_price_cents integer NOT NULL CHECK (monthly_price_cents >= 0),
  included_minutes    integer NOT NULL DEFAULT 0,
  created_at          timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE public.plans ENABLE ROW LEVEL SECURITY;
CREATE POLICY "plans - Read Access"
  ON public.plans
  FOR SELECT
  USING (true);

-- ------------------------------------------------------------------------
-- feature_flags
-- ------------------------------------------------------------------------
CREATE TABLE public.feature_flags (
  key                text PRIMARY KEY,
  description        text,
  enabled_by_default boolean NOT NULL DEFAULT false
);
ALTER TABLE public.feature_flags ENABLE ROW LEVEL SECURITY;
CREATE POLICY "feature_flags - Read Access"
  ON public.feature_flags
  FOR SELECT
  USING (true);

-- ------------------------------------------------------------------------
-- organizations
-- ------------------------------------------------------------------------
CREATE TABLE public.organizations (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name       text NOT NULL,
  slug       text NOT NULL UNIQUE,
  status     text NOT NULL DEFAULT 'active'
             CHECK (status IN ('trial', 'active', 'suspended', 'churned')),
  timezone   text NOT NULL DEFAULT 'America/New_York',
  phone      text,
  email      text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- RLS is NOT enabled on organizations.

-- ------------------------------------------------------------------------
-- organization_members
-- ------------------------------------------------------------------------
CREATE TABLE public.organization_members (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  user_id    uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
  role       text NOT NULL DEFAULT 'staff' CHECK (role IN ('owner', 'admin', 'staff', 'viewer')),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, user_id)
);
CREATE INDEX ON public.organization_members (user_id);
ALTER TABLE public.organization_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY "organization_members - Organization Isolation"
  ON public.organization_members
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- invitations
-- ------------------------------------------------------------------------
CREATE TABLE public.invitations (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  email       text NOT NULL,
  role        text NOT NULL DEFAULT 'staff' CHECK (role IN ('admin', 'staff', 'viewer')),
  token_hash  text NOT NULL UNIQUE,
  invited_by  uuid REFERENCES auth.users(id) ON DELETE SET NULL,
  expires_at  timestamptz NOT NULL,
  accepted_at timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.invitations (org_id, email);
CREATE INDEX ON public.invitations (invited_by);
ALTER TABLE public.invitations ENABLE ROW LEVEL SECURITY;
CREATE POLICY "invitations - Organization Isolation"
  ON public.invitations
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- locations
-- ------------------------------------------------------------------------
CREATE TABLE public.locations (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  name          text NOT NULL,
  address_line1 text NOT NULL,
  city          text NOT NULL,
  region        text,
  postal_code   text,
  phone         text,
  timezone      text NOT NULL,
  is_primary    boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.locations (org_id, name);
ALTER TABLE public.locations ENABLE ROW LEVEL SECURITY;
CREATE POLICY "locations - Organization Isolation"
  ON public.locations
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- business_hours
-- ------------------------------------------------------------------------
CREATE TABLE public.business_hours (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  location_id uuid NOT NULL REFERENCES public.locations(id) ON DELETE CASCADE,
  day_of_week smallint NOT NULL CHECK (day_of_week BETWEEN 0 AND 6),
  opens_at    time,
  closes_at   time,
  is_closed   boolean NOT NULL DEFAULT false,
  CHECK (is_closed OR closes_at > opens_at)
);
CREATE INDEX ON public.business_hours (org_id, location_id, day_of_week);
CREATE INDEX ON public.business_hours (location_id);
ALTER TABLE public.business_hours ENABLE ROW LEVEL SECURITY;
CREATE POLICY "business_hours - Organization Isolation"
  ON public.business_hours
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- providers
-- ------------------------------------------------------------------------
CREATE TABLE public.providers (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  location_id uuid REFERENCES public.locations(id) ON DELETE SET NULL,
  full_name   text NOT NULL,
  title       text,
  specialty   text,
  email       text,
  is_active   boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.providers (org_id, full_name);
CREATE INDEX ON public.providers (location_id);
ALTER TABLE public.providers ENABLE ROW LEVEL SECURITY;
CREATE POLICY "providers - Organization Isolation"
  ON public.providers
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- services
-- ------------------------------------------------------------------------
CREATE TABLE public.services (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  name             text NOT NULL,
  description      text,
  duration_minutes integer NOT NULL CHECK (duration_minutes > 0),
  price_cents      integer CHECK (price_cents >= 0),
  is_active        boolean NOT NULL DEFAULT true,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.services (org_id, name);
ALTER TABLE public.services ENABLE ROW LEVEL SECURITY;
CREATE POLICY "services - Organization Isolation"
  ON public.services
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- provider_services
-- ------------------------------------------------------------------------
CREATE TABLE public.provider_services (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  provider_id uuid NOT NULL REFERENCES public.providers(id) ON DELETE CASCADE,
  service_id  uuid NOT NULL REFERENCES public.services(id) ON DELETE CASCADE,
  UNIQUE (org_id, provider_id, service_id)
);
CREATE INDEX ON public.provider_services (provider_id);
CREATE INDEX ON public.provider_services (service_id);
ALTER TABLE public.provider_services ENABLE ROW LEVEL SECURITY;
CREATE POLICY "provider_services - Organization Isolation"
  ON public.provider_services
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- provider_time_off
-- ------------------------------------------------------------------------
CREATE TABLE public.provider_time_off (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  provider_id uuid NOT NULL REFERENCES public.providers(id) ON DELETE CASCADE,
  starts_at   timestamptz NOT NULL,
  ends_at     timestamptz NOT NULL,
  reason      text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CHECK (ends_at > starts_at)
);
CREATE INDEX ON public.provider_time_off (org_id, starts_at);
CREATE INDEX ON public.provider_time_off (provider_id);
ALTER TABLE public.provider_time_off ENABLE ROW LEVEL SECURITY;
CREATE POLICY "provider_time_off - Organization Isolation"
  ON public.provider_time_off
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- availability_slots
-- ------------------------------------------------------------------------
CREATE TABLE public.availability_slots (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  provider_id uuid NOT NULL REFERENCES public.providers(id) ON DELETE CASCADE,
  location_id uuid NOT NULL REFERENCES public.locations(id) ON DELETE CASCADE,
  starts_at   timestamptz NOT NULL,
  ends_at     timestamptz NOT NULL,
  is_booked   boolean NOT NULL DEFAULT false,
  CHECK (ends_at > starts_at)
);
CREATE INDEX ON public.availability_slots (org_id, starts_at);
CREATE INDEX ON public.availability_slots (provider_id);
CREATE INDEX ON public.availability_slots (location_id);
ALTER TABLE public.availability_slots ENABLE ROW LEVEL SECURITY;
CREATE POLICY "availability_slots - Organization Isolation"
  ON public.availability_slots
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- patients
-- ------------------------------------------------------------------------
CREATE TABLE public.patients (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  first_name        text NOT NULL,
  last_name         text NOT NULL,
  date_of_birth     date,
  phone             text,
  email             text,
  preferred_contact text NOT NULL DEFAULT 'sms' CHECK (preferred_contact IN ('sms', 'email', 'call')),
  created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.patients (org_id, last_name, first_name);
CREATE INDEX ON public.patients (org_id, phone);
ALTER TABLE public.patients ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Patients - Organization Isolation"
  ON public.patients
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Staff can view patients in their organization"
  ON public.patients
  FOR SELECT
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- patient_notes
-- ------------------------------------------------------------------------
CREATE TABLE public.patient_notes (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  patient_id     uuid NOT NULL REFERENCES public.patients(id) ON DELETE CASCADE,
  author_user_id uuid REFERENCES auth.users(id) ON DELETE SET NULL,
  body           text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.patient_notes (org_id, created_at);
CREATE INDEX ON public.patient_notes (patient_id);
CREATE INDEX ON public.patient_notes (author_user_id);
ALTER TABLE public.patient_notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY "patient_notes - Organization Isolation"
  ON public.patient_notes
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- insurance_providers
-- ------------------------------------------------------------------------
CREATE TABLE public.insurance_providers (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  name       text NOT NULL,
  payer_id   text,
  phone      text,
  accepted   boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.insurance_providers (org_id, name);
ALTER TABLE public.insurance_providers ENABLE ROW LEVEL SECURITY;
CREATE POLICY "insurance_providers - Organization Isolation"
  ON public.insurance_providers
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- contacts
-- ------------------------------------------------------------------------
CREATE TABLE public.contacts (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  patient_id uuid REFERENCES public.patients(id) ON DELETE SET NULL,
  full_name  text NOT NULL,
  phone      text NOT NULL,
  email      text,
  source     text NOT NULL DEFAULT 'inbound_call',
  tags       text[] NOT NULL DEFAULT '{}',
  do_not_call boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.contacts (org_id, phone);
CREATE INDEX ON public.contacts (patient_id);
ALTER TABLE public.contacts ENABLE ROW LEVEL SECURITY;
CREATE POLICY "contacts - Organization Isolation"
  ON public.contacts
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can view contacts in their organization"
  ON public.contacts
  FOR SELECT
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can insert contacts in their organization"
  ON public.contacts
  FOR INSERT
  TO authenticated
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can update contacts in their organization"
  ON public.contacts
  FOR UPDATE
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can delete contacts in their organization"
  ON public.contacts
  FOR DELETE
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "contacts_select_own_org"
  ON public.contacts
  FOR SELECT
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- agents
-- ------------------------------------------------------------------------
CREATE TABLE public.agents (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  name        text NOT NULL,
  kind        text NOT NULL DEFAULT 'inbound' CHECK (kind IN ('inbound', 'outbound')),
  voice_id    text NOT NULL,
  language    text NOT NULL DEFAULT 'en-US',
  is_active   boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.agents (org_id, created_at);
ALTER TABLE public.agents ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view agents in their organization"
  ON public.agents
  FOR SELECT
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can insert agents in their organization"
  ON public.agents
  FOR INSERT
  TO authenticated
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can update agents in their organization"
  ON public.agents
  FOR UPDATE
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can delete agents in their organization"
  ON public.agents
  FOR DELETE
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- agent_configurations
-- ------------------------------------------------------------------------
CREATE TABLE public.agent_configurations (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  agent_id         uuid NOT NULL REFERENCES public.agents(id) ON DELETE CASCADE,
  system_prompt    text NOT NULL,
  greeting         text NOT NULL,
  llm_model        text NOT NULL DEFAULT 'gpt-4o-mini',
  temperature      numeric(3,2) NOT NULL DEFAULT 0.30 CHECK (temperature BETWEEN 0 AND 2),
  max_call_minutes integer NOT NULL DEFAULT 15,
  booking_enabled  boolean NOT NULL DEFAULT true,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, agent_id)
);
CREATE INDEX ON public.agent_configurations (agent_id);
ALTER TABLE public.agent_configurations ENABLE ROW LEVEL SECURITY;
CREATE POLICY "agent_configurations - Organization Isolation"
  ON public.agent_configurations
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can view their org agent configurations"
  ON public.agent_configurations
  FOR SELECT
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can insert their org agent configurations"
  ON public.agent_configurations
  FOR INSERT
  TO authenticated
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can update their org agent configurations"
  ON public.agent_configurations
  FOR UPDATE
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can delete their org agent configurations"
  ON public.agent_configurations
  FOR DELETE
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "agent_configurations_select_org"
  ON public.agent_configurations
  FOR SELECT
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "agent_configurations_insert_org"
  ON public.agent_configurations
  FOR INSERT
  TO authenticated
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "agent_configurations_update_org"
  ON public.agent_configurations
  FOR UPDATE
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- phone_numbers
-- ------------------------------------------------------------------------
CREATE TABLE public.phone_numbers (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  e164        text NOT NULL UNIQUE CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
  carrier     text NOT NULL DEFAULT 'twilio',
  agent_id    uuid REFERENCES public.agents(id) ON DELETE SET NULL,
  location_id uuid REFERENCES public.locations(id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.phone_numbers (org_id, created_at);
CREATE INDEX ON public.phone_numbers (agent_id);
CREATE INDEX ON public.phone_numbers (location_id);
ALTER TABLE public.phone_numbers ENABLE ROW LEVEL SECURITY;
CREATE POLICY "phone_numbers - Organization Isolation"
  ON public.phone_numbers
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- escalation_rules
-- ------------------------------------------------------------------------
CREATE TABLE public.escalation_rules (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  agent_id          uuid NOT NULL REFERENCES public.agents(id) ON DELETE CASCADE,
  trigger_keyword   text NOT NULL,
  transfer_to_phone text NOT NULL,
  priority          integer NOT NULL DEFAULT 100,
  created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.escalation_rules (org_id, priority);
CREATE INDEX ON public.escalation_rules (agent_id);
ALTER TABLE public.escalation_rules ENABLE ROW LEVEL SECURITY;
CREATE POLICY "escalation_rules - Organization Isolation"
  ON public.escalation_rules
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- knowledge_base_articles
-- ------------------------------------------------------------------------
CREATE TABLE public.knowledge_base_articles (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  title        text NOT NULL,
  body         text NOT NULL,
  is_published boolean NOT NULL DEFAULT true,
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.knowledge_base_articles (org_id, updated_at);
ALTER TABLE public.knowledge_base_articles ENABLE ROW LEVEL SECURITY;
CREATE POLICY "knowledge_base_articles - Organization Isolation"
  ON public.knowledge_base_articles
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- faq_entries
-- ------------------------------------------------------------------------
CREATE TABLE public.faq_entries (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  article_id uuid REFERENCES public.knowledge_base_articles(id) ON DELETE SET NULL,
  question   text NOT NULL,
  answer     text NOT NULL,
  sort_order integer NOT NULL DEFAULT 0
);
CREATE INDEX ON public.faq_entries (org_id, sort_order);
CREATE INDEX ON public.faq_entries (article_id);
ALTER TABLE public.faq_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY "faq_entries - Organization Isolation"
  ON public.faq_entries
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- calendar_connections
-- ------------------------------------------------------------------------
CREATE TABLE public.calendar_connections (
  id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  provider_id             uuid REFERENCES public.providers(id) ON DELETE CASCADE,
  calendar_provider       text NOT NULL CHECK (calendar_provider IN ('google', 'outlook')),
  account_email           text NOT NULL,
  external_calendar_id    text NOT NULL,
  refresh_token_encrypted text,
  status                  text NOT NULL DEFAULT 'connected',
  last_synced_at          timestamptz,
  created_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.calendar_connections (org_id, calendar_provider);
CREATE INDEX ON public.calendar_connections (provider_id);
ALTER TABLE public.calendar_connections ENABLE ROW LEVEL SECURITY;
CREATE POLICY "calendar_connections - Organization Isolation"
  ON public.calendar_connections
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- integration_settings
-- ------------------------------------------------------------------------
CREATE TABLE public.integration_settings (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  integration text NOT NULL,
  config      jsonb NOT NULL DEFAULT '{}'::jsonb,
  is_enabled  boolean NOT NULL DEFAULT true,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, integration)
);
ALTER TABLE public.integration_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY "integration_settings - Organization Isolation"
  ON public.integration_settings
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- call_logs
-- ------------------------------------------------------------------------
CREATE TABLE public.call_logs (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  agent_id         uuid REFERENCES public.agents(id) ON DELETE SET NULL,
  phone_number_id  uuid REFERENCES public.phone_numbers(id) ON DELETE SET NULL,
  contact_id       uuid REFERENCES public.contacts(id) ON DELETE SET NULL,
  direction        public.call_direction NOT NULL,
  from_number      text NOT NULL,
  to_number        text NOT NULL,
  status           text NOT NULL DEFAULT 'completed',
  outcome          text,
  started_at       timestamptz NOT NULL,
  ended_at         timestamptz,
  duration_seconds integer CHECK (duration_seconds >= 0),
  carrier_call_sid text UNIQUE,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.call_logs (org_id, started_at DESC);
CREATE INDEX ON public.call_logs (agent_id);
CREATE INDEX ON public.call_logs (phone_number_id);
CREATE INDEX ON public.call_logs (contact_id);
ALTER TABLE public.call_logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view call logs in their organization"
  ON public.call_logs
  FOR SELECT
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can insert call logs in their organization"
  ON public.call_logs
  FOR INSERT
  TO authenticated
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can update call logs in their organization"
  ON public.call_logs
  FOR UPDATE
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can delete call logs in their organization"
  ON public.call_logs
  FOR DELETE
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- call_recordings
-- ------------------------------------------------------------------------
CREATE TABLE public.call_recordings (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id           uuid NOT NULL,  -- FK added NOT VALID at the end of data.sql (see there)
  call_log_id      uuid REFERENCES public.call_logs(id) ON DELETE SET NULL,
  storage_path     text NOT NULL,
  format           text NOT NULL DEFAULT 'wav',
  duration_seconds integer,
  status           text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'processing', 'ready', 'failed')),
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.call_recordings (org_id, created_at);
CREATE INDEX ON public.call_recordings (call_log_id);
CREATE INDEX ON public.call_recordings (status) WHERE status IN ('queued', 'processing');
ALTER TABLE public.call_recordings ENABLE ROW LEVEL SECURITY;
CREATE POLICY "call_recordings - Organization Isolation"
  ON public.call_recordings
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- call_transcripts
-- ------------------------------------------------------------------------
CREATE TABLE public.call_transcripts (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  call_log_id uuid NOT NULL REFERENCES public.call_logs(id) ON DELETE CASCADE,
  language    text NOT NULL DEFAULT 'en-US',
  full_text   text NOT NULL,
  summary     text,
  sentiment   text CHECK (sentiment IN ('positive', 'neutral', 'negative')),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.call_transcripts (call_log_id);
CREATE INDEX ON public.call_transcripts (created_at);
ALTER TABLE public.call_transcripts ENABLE ROW LEVEL SECURITY;
CREATE POLICY "call_transcripts - Organization Isolation"
  ON public.call_transcripts
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- voice_call_events
-- ------------------------------------------------------------------------
CREATE TABLE public.voice_call_events (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id      uuid REFERENCES public.organizations(id) ON DELETE CASCADE,
  call_log_id uuid REFERENCES public.call_logs(id) ON DELETE SET NULL,
  event_type  text NOT NULL,
  payload     jsonb NOT NULL DEFAULT '{}'::jsonb,
  occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.voice_call_events (org_id, occurred_at);
CREATE INDEX ON public.voice_call_events (call_log_id);
ALTER TABLE public.voice_call_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY "voice_call_events - Organization Isolation"
  ON public.voice_call_events
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- voicemails
-- ------------------------------------------------------------------------
CREATE TABLE public.voicemails (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  call_log_id     uuid REFERENCES public.call_logs(id) ON DELETE SET NULL,
  phone_number_id uuid REFERENCES public.phone_numbers(id) ON DELETE SET NULL,
  from_number     text NOT NULL,
  transcription   text,
  recording_path  text,
  listened_at     timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.voicemails (org_id, created_at);
CREATE INDEX ON public.voicemails (call_log_id);
CREATE INDEX ON public.voicemails (phone_number_id);
ALTER TABLE public.voicemails ENABLE ROW LEVEL SECURITY;
CREATE POLICY "voicemails - Organization Isolation"
  ON public.voicemails
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- appointments
-- ------------------------------------------------------------------------
CREATE TABLE public.appointments (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  patient_id         uuid NOT NULL REFERENCES public.patients(id) ON DELETE CASCADE,
  provider_id        uuid REFERENCES public.providers(id) ON DELETE SET NULL,
  service_id         uuid REFERENCES public.services(id) ON DELETE SET NULL,
  location_id        uuid REFERENCES public.locations(id) ON DELETE SET NULL,
  booked_via_call_id uuid REFERENCES public.call_logs(id) ON DELETE SET NULL,
  starts_at          timestamptz NOT NULL,
  ends_at            timestamptz NOT NULL,
  status             public.appointment_status NOT NULL DEFAULT 'scheduled',
  source             text NOT NULL DEFAULT 'voice_agent' CHECK (source IN ('voice_agent', 'web', 'staff')),
  notes              text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT appointments_time_order CHECK (ends_at > starts_at)
);
CREATE INDEX ON public.appointments (org_id, starts_at);
CREATE INDEX ON public.appointments (patient_id);
CREATE INDEX ON public.appointments (provider_id, starts_at);
CREATE INDEX ON public.appointments (service_id);
CREATE INDEX ON public.appointments (location_id);
CREATE INDEX ON public.appointments (booked_via_call_id);
ALTER TABLE public.appointments ENABLE ROW LEVEL SECURITY;
CREATE POLICY "appointments - Organization Isolation"
  ON public.appointments
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can view appointments in their organization"
  ON public.appointments
  FOR SELECT
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can update appointments in their organization"
  ON public.appointments
  FOR UPDATE
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- appointment_holds
-- ------------------------------------------------------------------------
CREATE TABLE public.appointment_holds (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  appointment_id  uuid NOT NULL REFERENCES public.appointments(id) ON DELETE CASCADE,
  held_by_call_id uuid REFERENCES public.call_logs(id) ON DELETE SET NULL,
  held_until      timestamptz NOT NULL,
  released_at     timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.appointment_holds (org_id, held_until);
CREATE INDEX ON public.appointment_holds (appointment_id);
CREATE INDEX ON public.appointment_holds (held_by_call_id);
ALTER TABLE public.appointment_holds ENABLE ROW LEVEL SECURITY;
CREATE POLICY "appointment_holds - Organization Isolation"
  ON public.appointment_holds
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can view holds in their organization"
  ON public.appointment_holds
  FOR SELECT
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- atomic_appointments
-- ------------------------------------------------------------------------
CREATE TABLE public.atomic_appointments (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  idempotency_key text NOT NULL,
  appointment_id  uuid REFERENCES public.appointments(id) ON DELETE SET NULL,
  request_payload jsonb NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'committed', 'rolled_back')),
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, idempotency_key)
);
CREATE INDEX ON public.atomic_appointments (appointment_id);
ALTER TABLE public.atomic_appointments ENABLE ROW LEVEL SECURITY;
CREATE POLICY "atomic_appointments - Organization Isolation"
  ON public.atomic_appointments
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- appointment_bookings
-- ------------------------------------------------------------------------
CREATE TABLE public.appointment_bookings (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  appointment_id    uuid NOT NULL REFERENCES public.appointments(id) ON DELETE CASCADE,
  contact_id        uuid REFERENCES public.contacts(id) ON DELETE SET NULL,
  channel           text NOT NULL CHECK (channel IN ('voice', 'sms', 'web', 'staff')),
  confirmation_code text NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, confirmation_code)
);
CREATE INDEX ON public.appointment_bookings (appointment_id);
CREATE INDEX ON public.appointment_bookings (contact_id);
-- RLS is NOT enabled on appointment_bookings.

-- ------------------------------------------------------------------------
-- waitlist_entries
-- ------------------------------------------------------------------------
CREATE TABLE public.waitlist_entries (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  patient_id            uuid NOT NULL REFERENCES public.patients(id) ON DELETE CASCADE,
  service_id            uuid REFERENCES public.services(id) ON DELETE SET NULL,
  preferred_provider_id uuid REFERENCES public.providers(id) ON DELETE SET NULL,
  earliest_date         date NOT NULL,
  latest_date           date,
  status                text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'offered', 'booked', 'expired')),
  created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.waitlist_entries (org_id, status, earliest_date);
CREATE INDEX ON public.waitlist_entries (patient_id);
CREATE INDEX ON public.waitlist_entries (service_id);
CREATE INDEX ON public.waitlist_entries (preferred_provider_id);
ALTER TABLE public.waitlist_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY "waitlist_entries - Organization Isolation"
  ON public.waitlist_entries
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- campaigns
-- ------------------------------------------------------------------------
CREATE TABLE public.campaigns (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  agent_id        uuid REFERENCES public.agents(id) ON DELETE SET NULL,
  name            text NOT NULL,
  campaign_type   text NOT NULL CHECK (campaign_type IN ('recall', 'reactivation', 'reminder', 'lead_follow_up')),
  status          text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'running', 'paused', 'completed')),
  scheduled_start timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.campaigns (org_id, status);
CREATE INDEX ON public.campaigns (agent_id);
ALTER TABLE public.campaigns ENABLE ROW LEVEL SECURITY;
CREATE POLICY "campaigns - Organization Isolation"
  ON public.campaigns
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can view campaigns in their organization"
  ON public.campaigns
  FOR SELECT
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can insert campaigns in their organization"
  ON public.campaigns
  FOR INSERT
  TO authenticated
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can update campaigns in their organization"
  ON public.campaigns
  FOR UPDATE
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can delete campaigns in their organization"
  ON public.campaigns
  FOR DELETE
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- leads
-- ------------------------------------------------------------------------
CREATE TABLE public.leads (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  contact_id  uuid NOT NULL REFERENCES public.contacts(id) ON DELETE CASCADE,
  campaign_id uuid REFERENCES public.campaigns(id) ON DELETE SET NULL,
  status      text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'contacted', 'qualified', 'converted', 'lost')),
  score       integer NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.leads (org_id, status);
CREATE INDEX ON public.leads (contact_id);
CREATE INDEX ON public.leads (campaign_id);
ALTER TABLE public.leads ENABLE ROW LEVEL SECURITY;
CREATE POLICY "leads - Organization Isolation"
  ON public.leads
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- lead_notes
-- ------------------------------------------------------------------------
CREATE TABLE public.lead_notes (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  lead_id    uuid NOT NULL REFERENCES public.leads(id) ON DELETE CASCADE,
  body       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.lead_notes (org_id, created_at);
CREATE INDEX ON public.lead_notes (lead_id);
ALTER TABLE public.lead_notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY "lead_notes - Organization Isolation"
  ON public.lead_notes
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- cold_call_logs
-- ------------------------------------------------------------------------
CREATE TABLE public.cold_call_logs (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id       uuid NOT NULL REFERENCES public.organizations(id),
  campaign_id  uuid REFERENCES public.campaigns(id) ON DELETE SET NULL,
  lead_id      uuid REFERENCES public.leads(id) ON DELETE SET NULL,
  call_log_id  uuid REFERENCES public.call_logs(id) ON DELETE SET NULL,
  disposition  text NOT NULL CHECK (disposition IN ('no_answer', 'voicemail', 'not_interested', 'callback', 'booked')),
  attempted_at timestamptz NOT NULL,
  notes        text
);
CREATE INDEX ON public.cold_call_logs (org_id, attempted_at);
CREATE INDEX ON public.cold_call_logs (campaign_id);
CREATE INDEX ON public.cold_call_logs (lead_id);
CREATE INDEX ON public.cold_call_logs (call_log_id);
ALTER TABLE public.cold_call_logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY "cold_call_logs - Organization Isolation"
  ON public.cold_call_logs
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can view cold call logs in their organization"
  ON public.cold_call_logs
  FOR SELECT
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can insert cold call logs in their organization"
  ON public.cold_call_logs
  FOR INSERT
  TO authenticated
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can update cold call logs in their organization"
  ON public.cold_call_logs
  FOR UPDATE
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "Users can delete cold call logs in their organization"
  ON public.cold_call_logs
  FOR DELETE
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "cold_call_logs_select_org"
  ON public.cold_call_logs
  FOR SELECT
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "cold_call_logs_insert_org"
  ON public.cold_call_logs
  FOR INSERT
  TO authenticated
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);
CREATE POLICY "cold_call_logs_update_org"
  ON public.cold_call_logs
  FOR UPDATE
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- call_queue
-- ------------------------------------------------------------------------
CREATE TABLE public.call_queue (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  campaign_id   uuid NOT NULL REFERENCES public.campaigns(id) ON DELETE CASCADE,
  contact_id    uuid NOT NULL REFERENCES public.contacts(id) ON DELETE CASCADE,
  scheduled_for timestamptz NOT NULL,
  attempts      integer NOT NULL DEFAULT 0,
  status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'in_progress', 'done', 'failed')),
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.call_queue (org_id, status, scheduled_for);
CREATE INDEX ON public.call_queue (campaign_id);
CREATE INDEX ON public.call_queue (contact_id);
ALTER TABLE public.call_queue ENABLE ROW LEVEL SECURITY;
CREATE POLICY "call_queue - Organization Isolation"
  ON public.call_queue
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- sms_templates
-- ------------------------------------------------------------------------
CREATE TABLE public.sms_templates (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  name       text NOT NULL,
  purpose    text NOT NULL CHECK (purpose IN ('confirmation', 'reminder', 'follow_up', 'marketing')),
  body       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, name)
);
ALTER TABLE public.sms_templates ENABLE ROW LEVEL SECURITY;
CREATE POLICY "sms_templates - Organization Isolation"
  ON public.sms_templates
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- sms_messages
-- ------------------------------------------------------------------------
CREATE TABLE public.sms_messages (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  contact_id          uuid REFERENCES public.contacts(id) ON DELETE SET NULL,
  template_id         uuid REFERENCES public.sms_templates(id) ON DELETE SET NULL,
  phone_number_id     uuid REFERENCES public.phone_numbers(id) ON DELETE SET NULL,
  direction           public.call_direction NOT NULL,
  body                text NOT NULL,
  status              text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'delivered', 'failed', 'received')),
  carrier_message_sid text UNIQUE,
  sent_at             timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.sms_messages (org_id, created_at);
CREATE INDEX ON public.sms_messages (contact_id);
CREATE INDEX ON public.sms_messages (template_id);
CREATE INDEX ON public.sms_messages (phone_number_id);
ALTER TABLE public.sms_messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY "sms_messages - Organization Isolation"
  ON public.sms_messages
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- sms_confirmation_logs
-- ------------------------------------------------------------------------
CREATE TABLE public.sms_confirmation_logs (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  appointment_id uuid NOT NULL REFERENCES public.appointments(id) ON DELETE CASCADE,
  sms_message_id uuid REFERENCES public.sms_messages(id) ON DELETE SET NULL,
  to_number      text NOT NULL,
  reply          text,
  confirmed      boolean,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.sms_confirmation_logs (org_id, created_at);
CREATE INDEX ON public.sms_confirmation_logs (appointment_id);
CREATE INDEX ON public.sms_confirmation_logs (sms_message_id);
-- RLS is NOT enabled on sms_confirmation_logs.

-- ------------------------------------------------------------------------
-- email_templates
-- ------------------------------------------------------------------------
CREATE TABLE public.email_templates (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  name       text NOT NULL,
  subject    text NOT NULL,
  body_html  text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, name)
);
ALTER TABLE public.email_templates ENABLE ROW LEVEL SECURITY;
CREATE POLICY "email_templates - Organization Isolation"
  ON public.email_templates
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- email_messages
-- ------------------------------------------------------------------------
CREATE TABLE public.email_messages (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  contact_id  uuid REFERENCES public.contacts(id) ON DELETE SET NULL,
  template_id uuid REFERENCES public.email_templates(id) ON DELETE SET NULL,
  to_email    text NOT NULL,
  subject     text NOT NULL,
  status      text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'bounced', 'failed')),
  sent_at     timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.email_messages (org_id, created_at);
CREATE INDEX ON public.email_messages (contact_id);
CREATE INDEX ON public.email_messages (template_id);
ALTER TABLE public.email_messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY "email_messages - Organization Isolation"
  ON public.email_messages
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- notifications
-- ------------------------------------------------------------------------
CREATE TABLE public.notifications (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  user_id    uuid REFERENCES auth.users(id) ON DELETE CASCADE,
  kind       text NOT NULL,
  title      text NOT NULL,
  body       text,
  read_at    timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.notifications (org_id, created_at);
CREATE INDEX ON public.notifications (user_id) WHERE read_at IS NULL;
ALTER TABLE public.notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY "notifications - Organization Isolation"
  ON public.notifications
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- follow_up_tasks
-- ------------------------------------------------------------------------
CREATE TABLE public.follow_up_tasks (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  contact_id  uuid REFERENCES public.contacts(id) ON DELETE CASCADE,
  call_log_id uuid REFERENCES public.call_logs(id) ON DELETE SET NULL,
  assigned_to uuid REFERENCES auth.users(id) ON DELETE SET NULL,
  title       text NOT NULL,
  due_at      timestamptz,
  status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.follow_up_tasks (org_id, status, due_at);
CREATE INDEX ON public.follow_up_tasks (contact_id);
CREATE INDEX ON public.follow_up_tasks (call_log_id);
CREATE INDEX ON public.follow_up_tasks (assigned_to);
ALTER TABLE public.follow_up_tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY "follow_up_tasks - Organization Isolation"
  ON public.follow_up_tasks
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- reviews
-- ------------------------------------------------------------------------
CREATE TABLE public.reviews (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  patient_id     uuid REFERENCES public.patients(id) ON DELETE SET NULL,
  appointment_id uuid REFERENCES public.appointments(id) ON DELETE SET NULL,
  rating         smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
  comment        text,
  source         text NOT NULL DEFAULT 'sms_survey',
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.reviews (org_id, created_at);
CREATE INDEX ON public.reviews (patient_id);
CREATE INDEX ON public.reviews (appointment_id);
ALTER TABLE public.reviews ENABLE ROW LEVEL SECURITY;
CREATE POLICY "reviews - Organization Isolation"
  ON public.reviews
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- invoices
-- ------------------------------------------------------------------------
CREATE TABLE public.invoices (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  patient_id     uuid REFERENCES public.patients(id) ON DELETE SET NULL,
  appointment_id uuid REFERENCES public.appointments(id) ON DELETE SET NULL,
  number         text NOT NULL,
  amount_cents   integer NOT NULL CHECK (amount_cents >= 0),
  currency       char(3) NOT NULL DEFAULT 'USD',
  status         text NOT NULL DEFAULT 'open' CHECK (status IN ('draft', 'open', 'paid', 'void')),
  issued_at      timestamptz NOT NULL DEFAULT now(),
  due_at         timestamptz,
  UNIQUE (org_id, number)
);
CREATE INDEX ON public.invoices (patient_id);
CREATE INDEX ON public.invoices (appointment_id);
ALTER TABLE public.invoices ENABLE ROW LEVEL SECURITY;
CREATE POLICY "invoices - Organization Isolation"
  ON public.invoices
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- payments
-- ------------------------------------------------------------------------
CREATE TABLE public.payments (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  invoice_id    uuid NOT NULL REFERENCES public.invoices(id) ON DELETE CASCADE,
  amount_cents  integer NOT NULL CHECK (amount_cents > 0),
  method        text NOT NULL CHECK (method IN ('card', 'cash', 'insurance', 'bank_transfer')),
  processor_ref text,
  paid_at       timestamptz NOT NULL
);
CREATE INDEX ON public.payments (org_id, paid_at);
CREATE INDEX ON public.payments (invoice_id);
ALTER TABLE public.payments ENABLE ROW LEVEL SECURITY;
CREATE POLICY "payments - Organization Isolation"
  ON public.payments
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- subscriptions
-- ------------------------------------------------------------------------
CREATE TABLE public.subscriptions (
  id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  plan_id                text NOT NULL REFERENCES public.plans(id),
  status                 text NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled')),
  current_period_start   timestamptz NOT NULL,
  current_period_end     timestamptz NOT NULL,
  stripe_subscription_id text UNIQUE,
  created_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.subscriptions (org_id, status);
CREATE INDEX ON public.subscriptions (plan_id);
ALTER TABLE public.subscriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY "subscriptions - Organization Isolation"
  ON public.subscriptions
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- usage_records
-- ------------------------------------------------------------------------
CREATE TABLE public.usage_records (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  subscription_id uuid NOT NULL REFERENCES public.subscriptions(id) ON DELETE CASCADE,
  metric          text NOT NULL CHECK (metric IN ('voice_minutes', 'sms_segments', 'emails')),
  quantity        integer NOT NULL CHECK (quantity >= 0),
  period_start    date NOT NULL,
  recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.usage_records (org_id, period_start, metric);
CREATE INDEX ON public.usage_records (subscription_id);
ALTER TABLE public.usage_records ENABLE ROW LEVEL SECURITY;
CREATE POLICY "usage_records - Organization Isolation"
  ON public.usage_records
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- audit_logs
-- ------------------------------------------------------------------------
CREATE TABLE public.audit_logs (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  actor_user_id uuid REFERENCES auth.users(id) ON DELETE SET NULL,
  action        text NOT NULL,
  entity_table  text NOT NULL,
  entity_id     uuid,
  details       jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.audit_logs (org_id, created_at DESC);
CREATE INDEX ON public.audit_logs (actor_user_id);
ALTER TABLE public.audit_logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY "audit_logs - Organization Isolation"
  ON public.audit_logs
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- api_keys
-- ------------------------------------------------------------------------
CREATE TABLE public.api_keys (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  name         text NOT NULL,
  key_prefix   text NOT NULL,
  key_hash     text NOT NULL UNIQUE,
  scopes       text[] NOT NULL DEFAULT '{}',
  last_used_at timestamptz,
  revoked_at   timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.api_keys (org_id, created_at);
ALTER TABLE public.api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY "api_keys - Organization Isolation"
  ON public.api_keys
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- webhook_endpoints
-- ------------------------------------------------------------------------
CREATE TABLE public.webhook_endpoints (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE,
  url         text NOT NULL CHECK (url LIKE 'https://%'),
  events      text[] NOT NULL,
  secret_hash text NOT NULL,
  is_active   boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.webhook_endpoints (org_id, is_active);
ALTER TABLE public.webhook_endpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY "webhook_endpoints - Organization Isolation"
  ON public.webhook_endpoints
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- webhook_deliveries
-- ------------------------------------------------------------------------
CREATE TABLE public.webhook_deliveries (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id          uuid NOT NULL,
  endpoint_id     uuid REFERENCES public.webhook_endpoints(id) ON DELETE SET NULL,
  event_type      text NOT NULL,
  payload         jsonb NOT NULL,
  attempt         integer NOT NULL DEFAULT 1,
  response_status integer,
  delivered_at    timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.webhook_deliveries (org_id, created_at);
CREATE INDEX ON public.webhook_deliveries (endpoint_id);
ALTER TABLE public.webhook_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY "webhook_deliveries - Organization Isolation"
  ON public.webhook_deliveries
  FOR ALL
  TO authenticated
  USING (org_id = (auth.jwt() ->> 'organization_id')::uuid)
  WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid);

-- ------------------------------------------------------------------------
-- appointment_reminders
-- ------------------------------------------------------------------------
CREATE TABLE public.appointment_reminders (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  appointment_id uuid NOT NULL REFERENCES public.appointments(id) ON DELETE CASCADE,
  channel        text NOT NULL CHECK (channel IN ('sms', 'email', 'voice')),
  send_at        timestamptz NOT NULL,
  sent_at        timestamptz,
  status         text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'sent', 'failed', 'skipped'))
);
CREATE INDEX ON public.appointment_reminders (appointment_id);
CREATE INDEX ON public.appointment_reminders (send_at) WHERE sent_at IS NULL;
ALTER TABLE public.appointment_reminders ENABLE ROW LEVEL SECURITY;
CREATE POLICY "appointment_reminders - Organization Isolation"
  ON public.appointment_reminders
  FOR ALL
  TO authenticated
  USING (EXISTS (SELECT 1 FROM public.appointments p WHERE p.id = appointment_reminders.appointment_id))
  WITH CHECK (EXISTS (SELECT 1 FROM public.appointments p WHERE p.id = appointment_reminders.appointment_id));

-- ------------------------------------------------------------------------
-- campaign_steps
-- ------------------------------------------------------------------------
CREATE TABLE public.campaign_steps (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  campaign_id uuid NOT NULL REFERENCES public.campaigns(id) ON DELETE CASCADE,
  step_order  integer NOT NULL,
  channel     text NOT NULL CHECK (channel IN ('call', 'sms', 'email')),
  delay_hours integer NOT NULL DEFAULT 0,
  script      text NOT NULL,
  UNIQUE (campaign_id, step_order)
);
ALTER TABLE public.campaign_steps ENABLE ROW LEVEL SECURITY;
CREATE POLICY "campaign_steps - Organization Isolation"
  ON public.campaign_steps
  FOR ALL
  TO authenticated
  USING (EXISTS (SELECT 1 FROM public.campaigns p WHERE p.id = campaign_steps.campaign_id))
  WITH CHECK (EXISTS (SELECT 1 FROM public.campaigns p WHERE p.id = campaign_steps.campaign_id));

-- ------------------------------------------------------------------------
-- call_transcript_segments
-- ------------------------------------------------------------------------
CREATE TABLE public.call_transcript_segments (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  transcript_id uuid NOT NULL REFERENCES public.call_transcripts(id) ON DELETE CASCADE,
  seq           integer NOT NULL,
  speaker       text NOT NULL CHECK (speaker IN ('agent', 'caller')),
  start_ms      integer NOT NULL,
  end_ms        integer NOT NULL,
  content       text NOT NULL,
  UNIQUE (transcript_id, seq)
);
ALTER TABLE public.call_transcript_segments ENABLE ROW LEVEL SECURITY;
CREATE POLICY "call_transcript_segments - Organization Isolation"
  ON public.call_transcript_segments
  FOR ALL
  TO authenticated
  USING (EXISTS (SELECT 1 FROM public.call_transcripts p WHERE p.id = call_transcript_segments.transcript_id))
  WITH CHECK (EXISTS (SELECT 1 FROM public.call_transcripts p WHERE p.id = call_transcript_segments.transcript_id));
