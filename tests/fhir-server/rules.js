'use strict';
// The explicit table of profiles this test server can check, and the
// hand-written rules behind each. A resource claiming any other meta.profile is
// rejected (rule known-profile): a server that silently accepted profiles it
// cannot check would let gateway bugs through.
//
// Sources: R4 vital-signs profiles (hl7.org/fhir/R4/observation-vitalsigns.html),
// HL7 PHD IG (hl7.org/fhir/uv/phd), summarised in
// ../shared/reference/health-devices-to-fhir.md §4. Each rule has a stable id that
// the server puts into OperationOutcome.issue.details.coding (system RULE_SYSTEM)
// and into the issue text, so tests can assert which rule fired.

const RULE_SYSTEM = 'urn:rpm-gateway:fhir-test-server:rule';

const UCUM = 'http://unitsofmeasure.org';
const LOINC = 'http://loinc.org';
const MDC = 'urn:iso:std:iso:11073:10101';
const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const PHD_CATEGORY = 'http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories';
const GATEWAY_DEVICE_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice';
const CONDITIONAL_CREATE_SYSTEM = 'http://hl7.org/fhir/uv/phd/StructureDefinition/PhdBaseObservation';
const CONTINUA_IDENTIFIERS = 'http://terminology.hl7.org/CodeSystem/ContinuaDeviceIdentifiers';
const SYSID_SYSTEM = 'urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680';
const BTMAC_SYSTEM = 'http://hl7.org/fhir/sid/eui-48/bluetooth';
const R4 = 'http://hl7.org/fhir/StructureDefinition/';
const PHD = 'http://hl7.org/fhir/uv/phd/StructureDefinition/';

// R4 ObservationStatus (required binding; Medplum does not check it).
const OBSERVATION_STATUS = ['registered', 'preliminary', 'final', 'amended', 'corrected', 'cancelled',
  'entered-in-error', 'unknown'];

// A dateTime with seconds and a UTC offset, as the PHD IG requires for effective[x].
const DATETIME_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

const codings = (concept) => (concept && Array.isArray(concept.coding) ? concept.coding : []);
const hasCoding = (concept, system, code) =>
  codings(concept).some((c) => c.system === system && (code === undefined || c.code === code));
const anyCategory = (r, system, code) => (r.category || []).some((c) => hasCoding(c, system, code));
const isEmpty = (v) => v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
const hasValue = (r) => Object.keys(r).some((k) => k.startsWith('value'));

// Problems of a Quantity that a vital sign must carry (value, unit, UCUM system, code).
function quantityProblems(q, where) {
  const p = [];
  if (q.value === undefined) p.push(`${where}.value is missing`);
  if (isEmpty(q.unit)) p.push(`${where}.unit is missing`);
  if (q.system !== UCUM) p.push(`${where}.system must be ${UCUM}`);
  if (isEmpty(q.code)) p.push(`${where}.code is missing`);
  return p;
}

// A rule: { description, check(resource) -> [problem, ...] (empty when satisfied) }.
const RULES = {
  'observation-status': {
    description: 'Observation.status is a code of the required R4 ObservationStatus value set',
    check: (r) => (OBSERVATION_STATUS.includes(r.status) ? [] : [`status '${r.status}' is not an R4 ObservationStatus code`]),
  },

  // --- R4 vital signs (base profile vitalsigns) ---
  'vitalsigns-category': {
    description: 'a vital sign has category observation-category#vital-signs',
    check: (r) => (anyCategory(r, OBSERVATION_CATEGORY, 'vital-signs') ? [] : ['no category vital-signs']),
  },
  'vitalsigns-subject': {
    description: 'a vital sign has a subject referencing a Patient (1..1; a urn:uuid: reference is taken on trust)',
    check: (r) => {
      if (!r.subject || isEmpty(r.subject.reference)) return ['subject reference is missing'];
      return /^(Patient\/|urn:uuid:)/.test(r.subject.reference) ? [] : [`subject '${r.subject.reference}' is not a Patient`];
    },
  },
  'vitalsigns-effective': {
    description: 'a vital sign has effective[x], a dateTime precise at least to the day (vs-1)',
    check: (r) => {
      if (r.effectiveDateTime !== undefined) {
        return /^\d{4}-\d{2}-\d{2}/.test(r.effectiveDateTime) ? [] : ['effectiveDateTime is not precise to the day'];
      }
      return r.effectivePeriod ? [] : ['effective[x] is missing'];
    },
  },
  'vitalsigns-value': {
    description: 'a vital sign has value[x] or dataAbsentReason unless it has components or members (vs-2), '
      + 'and so has each component (vs-3)',
    check: (r) => {
      const p = [];
      const grouped = (r.component && r.component.length) || (r.hasMember && r.hasMember.length);
      if (!grouped && !hasValue(r) && !r.dataAbsentReason) p.push('neither value[x] nor dataAbsentReason');
      (r.component || []).forEach((c, i) => {
        if (!hasValue(c) && !c.dataAbsentReason) p.push(`component[${i}] has neither value[x] nor dataAbsentReason`);
      });
      return p;
    },
  },
  'vitalsigns-quantity': {
    description: 'every valueQuantity of a vital sign has value, unit, system http://unitsofmeasure.org and code',
    check: (r) => {
      const p = r.valueQuantity ? quantityProblems(r.valueQuantity, 'valueQuantity') : [];
      (r.component || []).forEach((c, i) => {
        if (c.valueQuantity) p.push(...quantityProblems(c.valueQuantity, `component[${i}].valueQuantity`));
      });
      return p;
    },
  },
  'vitalsigns-profile': {
    description: 'the resource validates against the R4 vital-signs StructureDefinition (Medplum validator; '
      + 'vitalsigns for bp, whose own StructureDefinition Medplum cannot evaluate)',
    // Evaluated by the server with Medplum's validateResource; see server.js.
    medplum: true,
  },

  // --- PHD IG observations (PhdBaseObservation) ---
  'phd-gateway-device': {
    description: 'extension observation-gatewayDevice with a valueReference, exactly once (1..1)',
    check: (r) => {
      const ext = (r.extension || []).filter((e) => e.url === GATEWAY_DEVICE_EXTENSION);
      if (ext.length !== 1) return [`${ext.length} gatewayDevice extensions, expected exactly 1`];
      return ext[0].valueReference && !isEmpty(ext[0].valueReference.reference) ? [] : ['gatewayDevice has no valueReference'];
    },
  },
  'phd-device': {
    description: 'Observation.device references the PHD device (1..1)',
    check: (r) => (r.device && !isEmpty(r.device.reference) ? [] : ['device reference is missing']),
  },
  'phd-subject': {
    description: 'Observation.subject references the patient (1..1)',
    check: (r) => (r.subject && !isEmpty(r.subject.reference) ? [] : ['subject reference is missing']),
  },
  'phd-mdc-code': {
    description: 'Observation.code has an MDC coding (system urn:iso:std:iso:11073:10101, 32-bit decimal code)',
    check: (r) => (codings(r.code).some((c) => c.system === MDC && /^\d{1,10}$/.test(c.code || '') && Number(c.code) < 2 ** 32)
      ? [] : ['no MDC coding with a 32-bit decimal code']),
  },
  'phd-category': {
    description: 'category PhdObservationCategories#phd',
    check: (r) => (anyCategory(r, PHD_CATEGORY, 'phd') ? [] : ['no category phd']),
  },
  'phd-identifier': {
    description: 'exactly one conditional-create identifier: system '
      + `${CONDITIONAL_CREATE_SYSTEM}, a value and no type (stricter than the IG's 0..1: the gateway always sends it)`,
    check: (r) => {
      const ids = (r.identifier || []).filter((i) => i.system === CONDITIONAL_CREATE_SYSTEM);
      if (ids.length !== 1) return [`${ids.length} conditional-create identifiers, expected exactly 1`];
      const p = [];
      if (isEmpty(ids[0].value)) p.push('conditional-create identifier has no value');
      if (ids[0].type) p.push('conditional-create identifier must not have a type');
      return p;
    },
  },
  'phd-effective-offset': {
    description: 'effectiveDateTime (or effectivePeriod start/end) has seconds and a UTC offset',
    check: (r) => {
      const values = r.effectiveDateTime !== undefined ? [r.effectiveDateTime]
        : r.effectivePeriod ? [r.effectivePeriod.start, r.effectivePeriod.end].filter((v) => v !== undefined) : [];
      if (values.length === 0) return ['no effectiveDateTime or effectivePeriod'];
      return values.filter((v) => !DATETIME_WITH_OFFSET.test(v)).map((v) => `'${v}' lacks seconds or a UTC offset`);
    },
  },
  'phd-numeric-value': {
    description: 'PhdNumericObservation: a valueQuantity with UCUM system and code, or a dataAbsentReason',
    check: (r) => {
      if (r.valueQuantity) {
        return r.valueQuantity.system === UCUM && !isEmpty(r.valueQuantity.code) && r.valueQuantity.value !== undefined
          ? [] : ['valueQuantity needs value, system http://unitsofmeasure.org and code'];
      }
      return r.dataAbsentReason ? [] : ['neither valueQuantity nor dataAbsentReason'];
    },
  },
  'phd-rtsa-value': {
    // HL7/phd StructureDefinition.PhdRtsaObservation: value[x] only SampledData with origin (UCUM), period,
    // dimensions and data.
    description: 'PhdRtsaObservation: a valueSampledData with a UCUM origin, period, dimensions and data',
    check: (r) => {
      const sd = r.valueSampledData;
      if (!sd) return ['no valueSampledData'];
      const p = [];
      if (!sd.origin || sd.origin.system !== UCUM || isEmpty(sd.origin.code) || sd.origin.value === undefined) {
        p.push('origin needs value, system http://unitsofmeasure.org and code');
      }
      if (typeof sd.period !== 'number' || !(sd.period > 0)) p.push('period must be a positive number');
      if (!Number.isInteger(sd.dimensions) || sd.dimensions < 1) p.push('dimensions must be a positive integer');
      if (isEmpty(sd.data)) p.push('no data');
      return p;
    },
  },
  'phd-compound-components': {
    description: 'PhdCompoundNumericObservation: no value[x], at least one component, each with an MDC coding',
    check: (r) => {
      const p = [];
      if (hasValue(r)) p.push('a compound observation carries its values in components, not value[x]');
      if (!r.component || r.component.length === 0) p.push('no component');
      (r.component || []).forEach((c, i) => {
        if (!hasCoding(c.code, MDC)) p.push(`component[${i}] has no MDC coding`);
      });
      return p;
    },
  },
  'phd-coded-value': {
    description: 'PhdCodedEnumerationObservation: a valueCodeableConcept, or a dataAbsentReason',
    check: (r) => (r.valueCodeableConcept || r.dataAbsentReason ? [] : ['neither valueCodeableConcept nor dataAbsentReason']),
  },
  'phd-bits-components': {
    // HL7/phd StructureDefinition.PhdBitsEnumerationObservation.fsh: component value[x] only CodeableConcept,
    // coded from v2-0136 (Y set, N cleared), or dataAbsentReason #unsupported. (The shared reference §4.5 says
    // valueBoolean; the IG source is authoritative.)
    description: 'PhdBitsEnumerationObservation: at least one component, each a v2-0136 Y/N valueCodeableConcept '
      + 'or dataAbsentReason unsupported',
    check: (r) => {
      if (!r.component || r.component.length === 0) return ['no component'];
      const V2_0136 = 'http://terminology.hl7.org/CodeSystem/v2-0136';
      return r.component.map((c, i) => {
        const yn = codings(c.valueCodeableConcept).some((x) => x.system === V2_0136 && ['Y', 'N'].includes(x.code));
        const unsupported = codings(c.dataAbsentReason).some((x) => x.code === 'unsupported');
        return yn || unsupported ? null : `component[${i}] is neither a v2-0136 Y/N valueCodeableConcept nor unsupported`;
      }).filter(Boolean);
    },
  },
  'phd-coincident-timestamp': {
    description: 'PhdCoincidentTimeStampObservation: code an MDC clock type (67975, 68226, 67983, 68072), '
      + 'a valueDateTime, subject a Device',
    check: (r) => {
      const p = [];
      if (!codings(r.code).some((c) => c.system === MDC && ['67975', '68226', '67983', '68072'].includes(c.code))) {
        p.push('code is not an MDC clock type');
      }
      if (isEmpty(r.valueDateTime)) p.push('no valueDateTime');
      if (!(r.subject && /^(Device\/|urn:uuid:)/.test(r.subject.reference || ''))) p.push('subject is not a Device reference');
      return p;
    },
  },

  // --- PHD IG devices (PhdDevice, PhgDevice) ---
  'device-identifier': {
    // PhdDevice.identifier is 1..* with open slicing: BLE devices carry SYSID and/or BTMAC; devices without a
    // Bluetooth identity (MQTT) are identified by a urn:uuid in urn:ietf:rfc:3986 (decision 0006).
    description: 'at least one identifier typed ContinuaDeviceIdentifiers#SYSID or #BTMAC, or a urn:uuid in urn:ietf:rfc:3986',
    check: (r) => ((r.identifier || []).some((i) => hasCoding(i.type, CONTINUA_IDENTIFIERS, 'SYSID')
      || hasCoding(i.type, CONTINUA_IDENTIFIERS, 'BTMAC')
      || (i.system === 'urn:ietf:rfc:3986' && /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(i.value || '')))
      ? [] : ['no SYSID, BTMAC or urn:uuid identifier']),
  },
  'device-identifier-format': {
    description: `SYSID identifiers: system ${SYSID_SYSTEM}, 8 upper-case hex bytes with dashes; `
      + `BTMAC identifiers: system ${BTMAC_SYSTEM}, 6 upper-case hex bytes with dashes`,
    check: (r) => {
      const p = [];
      (r.identifier || []).forEach((i, n) => {
        if (hasCoding(i.type, CONTINUA_IDENTIFIERS, 'SYSID')) {
          if (i.system !== SYSID_SYSTEM) p.push(`identifier[${n}] SYSID system must be ${SYSID_SYSTEM}`);
          if (!/^([0-9A-F]{2}-){7}[0-9A-F]{2}$/.test(i.value || '')) p.push(`identifier[${n}] SYSID value is not XX-XX-XX-XX-XX-XX-XX-XX`);
        }
        if (hasCoding(i.type, CONTINUA_IDENTIFIERS, 'BTMAC')) {
          if (i.system !== BTMAC_SYSTEM) p.push(`identifier[${n}] BTMAC system must be ${BTMAC_SYSTEM}`);
          if (!/^([0-9A-F]{2}-){5}[0-9A-F]{2}$/.test(i.value || '')) p.push(`identifier[${n}] BTMAC value is not XX-XX-XX-XX-XX-XX`);
        }
      });
      return p;
    },
  },
  'device-manufacturer': {
    description: 'Device.manufacturer is present (1..1)',
    check: (r) => (isEmpty(r.manufacturer) ? ['manufacturer is missing'] : []),
  },
  'device-model': {
    description: 'Device.modelNumber is present (1..1)',
    check: (r) => (isEmpty(r.modelNumber) ? ['modelNumber is missing'] : []),
  },
  'phd-device-type': {
    description: 'PhdDevice.type is MDC 65573 MDC_MOC_VMS_MDS_SIMP',
    check: (r) => (hasCoding(r.type, MDC, '65573') ? [] : ['type is not MDC 65573']),
  },
  'phg-device-type': {
    description: 'PhgDevice.type is MDC 531981 MDC_MOC_VMS_MDS_AHD',
    check: (r) => (hasCoding(r.type, MDC, '531981') ? [] : ['type is not MDC 531981']),
  },
};

// Rules of a specific R4 vital sign: the LOINC code the profile fixes, and its UCUM units.
function vitalSign(name, loinc, units) {
  RULES[`${name}-code`] = {
    description: `${name}: Observation.code has LOINC ${loinc}`,
    check: (r) => (hasCoding(r.code, LOINC, loinc) ? [] : [`no LOINC ${loinc} coding`]),
  };
  RULES[`${name}-unit`] = {
    description: `${name}: value[x] is a valueQuantity in UCUM ${units.join(' or ')}`,
    check: (r) => {
      // The profile restricts value[x] to Quantity; Medplum does not enforce that.
      const others = Object.keys(r).filter((k) => k.startsWith('value') && k !== 'valueQuantity');
      if (others.length) return [`${others.join(', ')} instead of valueQuantity`];
      const q = r.valueQuantity;
      if (!q) return [];  // absent value: vitalsigns-value decides
      return q.system === UCUM && units.includes(q.code) ? [] : [`unit '${q.code}' is not UCUM ${units.join(' or ')}`];
    },
  };
  return [`${name}-code`, `${name}-unit`];
}

const VITALSIGNS_BASE = ['vitalsigns-category', 'vitalsigns-subject', 'vitalsigns-effective', 'vitalsigns-value',
  'vitalsigns-quantity', 'vitalsigns-profile'];

// The blood-pressure panel: code, systolic and diastolic components in mm[Hg].
const BP_COMPONENTS = { systolic: '8480-6', diastolic: '8462-4' };
RULES['bp-code'] = {
  description: 'bp: Observation.code has LOINC 85354-9',
  check: (r) => (hasCoding(r.code, LOINC, '85354-9') ? [] : ['no LOINC 85354-9 coding']),
};
for (const [name, loinc] of Object.entries(BP_COMPONENTS)) {
  RULES[`bp-${name}`] = {
    description: `bp: exactly one ${name} component (LOINC ${loinc})`,
    check: (r) => {
      const n = (r.component || []).filter((c) => hasCoding(c.code, LOINC, loinc)).length;
      return n === 1 ? [] : [`${n} ${name} components (LOINC ${loinc}), expected 1`];
    },
  };
}
RULES['bp-component-unit'] = {
  description: 'bp: every component valueQuantity is UCUM mm[Hg]',
  check: (r) => (r.component || []).map((c, i) => (c.valueQuantity && (c.valueQuantity.system !== UCUM || c.valueQuantity.code !== 'mm[Hg]')
    ? `component[${i}] unit '${c.valueQuantity.code}' is not UCUM mm[Hg]` : null)).filter(Boolean),
};

const PHD_BASE = ['phd-gateway-device', 'phd-device', 'phd-subject', 'phd-mdc-code', 'phd-category', 'phd-identifier',
  'phd-effective-offset'];
const DEVICE_BASE = ['device-identifier', 'device-identifier-format', 'device-manufacturer', 'device-model'];

// The table: profile canonical -> resource type, rule ids, and the R4
// StructureDefinition Medplum validates against (for vitalsigns-profile).
const PROFILES = {
  [`${R4}vitalsigns`]: { resourceType: 'Observation', rules: VITALSIGNS_BASE, structureDefinition: 'vitalsigns' },
  [`${R4}bp`]: {
    resourceType: 'Observation',
    rules: [...VITALSIGNS_BASE, 'bp-code', 'bp-systolic', 'bp-diastolic', 'bp-component-unit'],
    structureDefinition: 'vitalsigns',
  },
  [`${R4}heartrate`]: { resourceType: 'Observation', rules: [...VITALSIGNS_BASE, ...vitalSign('heartrate', '8867-4', ['/min'])], structureDefinition: 'heartrate' },
  [`${R4}oxygensat`]: { resourceType: 'Observation', rules: [...VITALSIGNS_BASE, ...vitalSign('oxygensat', '2708-6', ['%'])], structureDefinition: 'oxygensat' },
  [`${R4}bodytemp`]: { resourceType: 'Observation', rules: [...VITALSIGNS_BASE, ...vitalSign('bodytemp', '8310-5', ['Cel', '[degF]'])], structureDefinition: 'bodytemp' },
  [`${R4}bodyweight`]: { resourceType: 'Observation', rules: [...VITALSIGNS_BASE, ...vitalSign('bodyweight', '29463-7', ['kg', 'g', '[lb_av]'])], structureDefinition: 'bodyweight' },
  [`${R4}bodyheight`]: { resourceType: 'Observation', rules: [...VITALSIGNS_BASE, ...vitalSign('bodyheight', '8302-2', ['cm', '[in_i]'])], structureDefinition: 'bodyheight' },
  [`${R4}bmi`]: { resourceType: 'Observation', rules: [...VITALSIGNS_BASE, ...vitalSign('bmi', '39156-5', ['kg/m2'])], structureDefinition: 'bmi' },
  [`${PHD}PhdNumericObservation`]: { resourceType: 'Observation', rules: [...PHD_BASE, 'phd-numeric-value'] },
  [`${PHD}PhdCompoundNumericObservation`]: { resourceType: 'Observation', rules: [...PHD_BASE, 'phd-compound-components'] },
  [`${PHD}PhdRtsaObservation`]: { resourceType: 'Observation', rules: [...PHD_BASE, 'phd-rtsa-value'] },
  [`${PHD}PhdCodedEnumerationObservation`]: { resourceType: 'Observation', rules: [...PHD_BASE, 'phd-coded-value'] },
  [`${PHD}PhdBitsEnumerationObservation`]: { resourceType: 'Observation', rules: [...PHD_BASE, 'phd-bits-components'] },
  [`${PHD}PhdCoincidentTimeStampObservation`]: {
    resourceType: 'Observation',
    rules: ['phd-device', 'phd-effective-offset', 'phd-coincident-timestamp'],
  },
  [`${PHD}PhdDevice`]: { resourceType: 'Device', rules: [...DEVICE_BASE, 'phd-device-type'] },
  [`${PHD}PhgDevice`]: { resourceType: 'Device', rules: [...DEVICE_BASE, 'phg-device-type'] },
};

// Rules the server applies whatever the profiles: R4 core validation (Medplum),
// the profile table itself, and the Observation checks Medplum misses.
const ALWAYS = {
  'r4-core': { description: 'the resource validates against the R4 core specification (Medplum validateResource)', medplum: true },
  'known-profile': { description: 'every meta.profile is in the test server\'s table of checkable profiles' },
  'profile-resource-type': { description: 'a meta.profile applies to the resource\'s type' },
};
Object.assign(RULES, ALWAYS);

module.exports = { RULES, PROFILES, RULE_SYSTEM, OBSERVATION_STATUS };
