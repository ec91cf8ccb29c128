-- The expert pool (评标专家库): the specialty classification, the experts with their
-- declared ties and sanctions, and a pool version number that every change bumps (a draw
-- records the version it was computed from; the server keeps one built index per version).
--
-- What is never here in clear: an expert's identity card number. It is stored AES-GCM
-- encrypted (id_number_enc) under a key in the data directory, with a keyed HMAC
-- (id_number_index, a blind index) so the same person cannot be entered twice, and its
-- masked form for display.

CREATE TABLE expert_specialty_codes (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Z]([0-9]{2}){0,3}$'),
    name_zh     text NOT NULL CHECK (length(name_zh) BETWEEN 1 AND 100),
    name_en     text NOT NULL DEFAULT '' CHECK (length(name_en) <= 100)
);

-- An illustrative part of the national classification (发改法规〔2018〕316号): categories
-- A works, B goods, C services, with the branches the demo uses. A centre loads its full
-- table with `sunlit experts codes FILE.csv` (code,name_zh,name_en).
INSERT INTO expert_specialty_codes (code, name_zh, name_en) VALUES
    ('A', '工程', 'Works'),
    ('A01', '房屋建筑工程', 'Building works'),
    ('A0101', '土建', 'Civil construction'),
    ('A0102', '建筑安装', 'Building services installation'),
    ('A02', '市政公用工程', 'Municipal works'),
    ('A0201', '给水排水', 'Water supply and drainage'),
    ('A0202', '城市道路', 'Urban roads'),
    ('A03', '公路工程', 'Highway works'),
    ('A0301', '路基路面', 'Subgrade and pavement'),
    ('A030101', '路基', 'Subgrade'),
    ('A030102', '路面', 'Pavement'),
    ('A0302', '桥梁', 'Bridges'),
    ('A030201', '桥梁施工', 'Bridge construction'),
    ('A030202', '桥梁检测', 'Bridge inspection'),
    ('A0303', '隧道', 'Tunnels'),
    ('A04', '水利水电工程', 'Water conservancy and hydropower'),
    ('A0401', '水工建筑', 'Hydraulic structures'),
    ('B', '货物', 'Goods'),
    ('B01', '机电设备', 'Electromechanical equipment'),
    ('B0101', '通用机械', 'General machinery'),
    ('B02', '信息技术设备', 'Information technology equipment'),
    ('B0201', '计算机及网络设备', 'Computers and network equipment'),
    ('B03', '医疗设备', 'Medical equipment'),
    ('C', '服务', 'Services'),
    ('C01', '工程咨询', 'Engineering consulting'),
    ('C0101', '勘察设计', 'Survey and design'),
    ('C0102', '工程监理', 'Construction supervision'),
    ('C02', '信息技术服务', 'Information technology services'),
    ('C03', '物业管理', 'Property management'),
    ('C04', '工程造价', 'Cost engineering'),
    ('C05', '财务审计', 'Finance and audit'),
    ('C06', '法律', 'Law');

-- One row: bumped (first thing, under its row lock) by every transaction that changes an
-- expert; a draw reads it FOR SHARE, so the snapshot it draws from is exactly a version.
CREATE TABLE expert_pool_version (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version     bigint NOT NULL CHECK (version >= 0),
    changed_at  timestamptz
);
INSERT INTO expert_pool_version (singleton, version) VALUES (true, 0);

CREATE SEQUENCE expert_number_seq;

CREATE TABLE experts (
    expert_id         text PRIMARY KEY CHECK (expert_id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    id_number_enc     bytea NOT NULL,
    id_number_index   bytea NOT NULL UNIQUE CHECK (length(id_number_index) = 32),
    id_number_masked  text NOT NULL,
    -- organisations are named by their unified social credit code (or another stable id
    -- when they have none), whether or not they are registered on the platform
    employer_code     text CHECK (employer_code ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
    employer_name     text NOT NULL DEFAULT '' CHECK (length(employer_name) <= 200),
    specialties       text[] NOT NULL CHECK (cardinality(specialties) BETWEEN 1 AND 10),
    region            text NOT NULL CHECK (length(region) BETWEEN 1 AND 20),
    title             text NOT NULL DEFAULT '' CHECK (length(title) <= 60),
    experience_years  integer NOT NULL DEFAULT 0 CHECK (experience_years BETWEEN 0 AND 80),
    status            text NOT NULL CHECK (status IN ('active', 'suspended', 'retired')),
    suspended_until   date,
    unavailable_dates date[] NOT NULL DEFAULT '{}',
    -- [{"kind", "org", "org_name", "start", "end", "relative_name", "relationship"}]
    relations         jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(relations) = 'array'),
    -- [{"kind", "start", "end", "note"}]
    sanctions         jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(sanctions) = 'array'),
    phone             text NOT NULL DEFAULT '' CHECK (phone ~ '^(\+?[0-9]{5,20})?$'),
    email             text NOT NULL DEFAULT '' CHECK (length(email) <= 200),
    language          text NOT NULL DEFAULT 'zh' CHECK (language IN ('zh', 'en')),
    user_id           bigint UNIQUE REFERENCES users (id),
    version           integer NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    CHECK (status = 'suspended' OR suspended_until IS NULL)
);
CREATE INDEX experts_specialties ON experts USING gin (specialties);
CREATE INDEX experts_region ON experts (region);
