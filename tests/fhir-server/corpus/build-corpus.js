'use strict';
// Writes the FHIR test corpus: positive/*.json (valid resources and bundles the
// server must accept) and negative/<rule>[--<variant>].json (each breaks exactly
// the named rule of ../rules.js and must be rejected with an OperationOutcome
// naming it). The worked example of the reference (§4.7,
// positive/worked-example-4.7-transaction.json) is copied verbatim, not built here.
//
// Regenerate after changing a template: node tests/fhir-server/corpus/build-corpus.js
const fs = require('fs');
const path = require('path');

const UCUM = 'http://unitsofmeasure.org';
const LOINC = 'http://loinc.org';
const MDC = 'urn:iso:std:iso:11073:10101';
const R4 = 'http://hl7.org/fhir/StructureDefinition/';
const PHD = 'http://hl7.org/fhir/uv/phd/StructureDefinition/';
const CC = `${PHD}PhdBaseObservation`;
const VITAL = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] };
const PHDCAT = { coding: [{ system: 'http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories', code: 'phd' }] };
const GATEWAY = [{ url: 'http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice', valueReference: { reference: 'Device/phg-1' } }];
const WHEN = '2024-05-06T08:09:10+02:00';

// A PHD numeric observation that is also an R4 vital sign.
function vital(profile, mdc, loinc, value, unit, code, idType, vitalCategory = true) {
  return {
    resourceType: 'Observation',
    meta: { profile: [`${PHD}PhdNumericObservation`, `${R4}${profile}`] },
    extension: GATEWAY,
    identifier: [{ system: CC, value: `B0495F001071-123-${mdc}-${idType}` }],
    status: 'final',
    category: vitalCategory ? [VITAL, PHDCAT] : [PHDCAT],
    code: { coding: [{ system: MDC, code: String(mdc) }, { system: LOINC, code: loinc }] },
    subject: { reference: 'Patient/123' },
    effectiveDateTime: WHEN,
    valueQuantity: { value, unit, system: UCUM, code },
    device: { reference: 'Device/phd-1' },
  };
}

// Numbers are written as raw JSON text where precision matters (2.00, 98.60):
// JSON.stringify would drop trailing zeros, so such values are patched in after.
const RAW = (text) => ({ __raw: text });

const heartrate = vital('heartrate', 149546, '8867-4', 68, 'beats/minute', '/min', 768298150);
const oxygensat = vital('oxygensat', 150456, '2708-6', 97, '%', '%', 768298151);
const bodytemp = vital('bodytemp', 150364, '8310-5', RAW('98.60'), 'degF', '[degF]', 768298152);
const bodyweight = vital('bodyweight', 188736, '29463-7', RAW('72.35'), 'kg', 'kg', 768298153);
const bodyheight = vital('bodyheight', 188740, '8302-2', RAW('176.5'), 'cm', 'cm', 768298154);
const bmi = vital('bmi', 188752, '39156-5', RAW('23.20'), 'kg/m2', 'kg/m2', 768298155);

const bpComponent = (mdc, loinc, value) => ({
  code: { coding: [{ system: MDC, code: String(mdc) }, { system: LOINC, code: loinc }] },
  valueQuantity: { value, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' },
});
const bp = {
  resourceType: 'Observation',
  meta: { profile: [`${PHD}PhdCompoundNumericObservation`, `${R4}bp`] },
  extension: GATEWAY,
  identifier: [{ system: CC, value: 'B0495F001071-123-150020-768298150' }],
  status: 'final',
  category: [VITAL, PHDCAT],
  code: { coding: [{ system: MDC, code: '150020' }, { system: LOINC, code: '85354-9' }] },
  subject: { reference: 'Patient/123' },
  effectiveDateTime: WHEN,
  device: { reference: 'Device/phd-1' },
  component: [bpComponent(150021, '8480-6', 121), bpComponent(150022, '8462-4', 79), bpComponent(150023, '8478-0', 93)],
};

const glucose = {
  resourceType: 'Observation',
  meta: { profile: [`${PHD}PhdNumericObservation`] },
  extension: GATEWAY,
  identifier: [{ system: CC, value: 'B0495F001071-123-160184-768298160' }],
  status: 'final',
  category: [PHDCAT],
  code: { coding: [{ system: MDC, code: '160184', display: 'MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD' }, { system: LOINC, code: '41653-7' }] },
  subject: { reference: 'Patient/123' },
  effectiveDateTime: '2024-05-06T06:09:10Z',
  valueQuantity: { value: 101, unit: 'mg/dL', system: UCUM, code: 'mg/dL' },
  device: { reference: 'Device/phd-2' },
};

const spo2Absent = {
  ...oxygensat,
  identifier: [{ system: CC, value: 'B0495F001071-123-150456-768298170' }],
  valueQuantity: undefined,
  dataAbsentReason: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-a-number' }] },
};

const bpStatus = {
  resourceType: 'Observation',
  meta: { profile: [`${PHD}PhdBitsEnumerationObservation`] },
  extension: GATEWAY,
  identifier: [{ system: CC, value: 'B0495F001071-123-8410608-768298150' }],
  status: 'final',
  category: [PHDCAT],
  code: { coding: [{ system: MDC, code: '8410608', display: 'MDC_BLOOD_PRESSURE_MEASUREMENT_STATUS' }] },
  subject: { reference: 'Patient/123' },
  effectiveDateTime: WHEN,
  device: { reference: 'Device/phd-1' },
  derivedFrom: [{ reference: 'Observation/bp-1' }],
  component: [{
    code: { coding: [{ system: 'http://hl7.org/fhir/uv/phd/CodeSystem/ASN1ToHL7', code: '8410608.2', display: 'irregular-pulse' }] },
    valueCodeableConcept: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0136', code: 'Y' }] },
  }],
};

const ecg = {
  resourceType: 'Observation',
  meta: { profile: [`${PHD}PhdRtsaObservation`] },
  extension: GATEWAY,
  identifier: [{ system: CC, value: 'B0495F001071-123-131329-768298150' }],
  status: 'final',
  category: [PHDCAT],
  code: { coding: [{ system: MDC, code: '131329', display: 'MDC_ECG_ELEC_POTL_I' }] },
  subject: { reference: 'Patient/123' },
  effectivePeriod: { start: WHEN, end: '2024-05-06T08:09:11+02:00' },
  device: { reference: 'Device/phd-1' },
  valueSampledData: {
    origin: { value: 0, unit: 'uV', system: UCUM, code: 'uV' }, period: 4, factor: 1.5, dimensions: 1, data: '12 15 -3 0 7',
  },
};

const mealContext = {
  resourceType: 'Observation',
  meta: { profile: [`${PHD}PhdCodedEnumerationObservation`] },
  extension: GATEWAY,
  identifier: [{ system: CC, value: 'B0495F001071-123-8417864-768298160' }],
  status: 'final',
  category: [PHDCAT],
  code: { coding: [{ system: MDC, code: '8417864', display: 'MDC_CTXT_GLU_MEAL' }] },
  subject: { reference: 'Patient/123' },
  effectiveDateTime: '2024-05-06T06:09:10Z',
  valueCodeableConcept: { coding: [{ system: MDC, code: '8417868', display: 'MDC_CTXT_GLU_MEAL_PREPRANDIAL' }] },
  device: { reference: 'Device/phd-2' },
};

const coincident = {
  resourceType: 'Observation',
  meta: { profile: [`${PHD}PhdCoincidentTimeStampObservation`] },
  status: 'final',
  code: { coding: [{ system: MDC, code: '67975', display: 'MDC_ATTR_TIME_ABS' }] },
  subject: { reference: 'Device/phd-1' },
  effectiveDateTime: '2024-05-06T08:10:00+02:00',
  valueDateTime: '2024-05-06T08:09:58',
  device: { reference: 'Device/phg-1' },
};

const vitalsignsOnly = {
  resourceType: 'Observation',
  meta: { profile: [`${R4}vitalsigns`] },
  status: 'final',
  category: [VITAL],
  code: { coding: [{ system: LOINC, code: '9279-1', display: 'Respiratory rate' }] },
  subject: { reference: 'Patient/123' },
  effectiveDateTime: '2024-05-06',
  valueQuantity: { value: 16, unit: 'breaths/minute', system: UCUM, code: '/min' },
};

const plainObservation = {
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: LOINC, code: '8867-4' }] },
  subject: { reference: 'Patient/123' },
  effectiveDateTime: WHEN,
  valueQuantity: { value: 70, unit: 'beats/minute', system: UCUM, code: '/min' },
};

const identifierOf = (type, system, value) => ({
  type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/ContinuaDeviceIdentifiers', code: type }] }, system, value,
});
const phdDevice = {
  resourceType: 'Device',
  meta: { profile: [`${PHD}PhdDevice`] },
  identifier: [
    identifierOf('SYSID', 'urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680', '71-10-00-FE-FF-5F-49-B0'),
    identifierOf('BTMAC', 'http://hl7.org/fhir/sid/eui-48/bluetooth', 'B0-49-5F-00-10-71'),
  ],
  manufacturer: 'ACME',
  modelNumber: 'BP-100',
  serialNumber: 'SN0001',
  type: { coding: [{ system: MDC, code: '65573', display: 'MDC_MOC_VMS_MDS_SIMP' }] },
  specialization: [{ systemType: { coding: [{ system: MDC, code: '528391', display: 'MDC_DEV_SPEC_PROFILE_BP' }] }, version: '1' }],
};
const phgDevice = {
  resourceType: 'Device',
  meta: { profile: [`${PHD}PhgDevice`] },
  identifier: [identifierOf('BTMAC', 'http://hl7.org/fhir/sid/eui-48/bluetooth', 'DC-A6-32-00-00-01')],
  manufacturer: 'Example RPM Hub',
  modelNumber: 'hub-1',
  type: { coding: [{ system: MDC, code: '531981', display: 'MDC_MOC_VMS_MDS_AHD' }] },
};

const entry = (resource, n) => ({
  fullUrl: `urn:uuid:7a1c0000-0000-4000-8000-00000000000${n}`,
  resource,
  request: { method: 'POST', url: resource.resourceType,
    ifNoneExist: `identifier=${resource.identifier[0].system}|${resource.identifier[0].value}` },
});
const batch = { resourceType: 'Bundle', type: 'batch', entry: [entry(glucose, 1), entry(mealContext, 2)] };

const POSITIVE = {
  'heartrate-pulse-68.json': heartrate,
  'oxygensat-97.json': oxygensat,
  'oxygensat-not-a-number.json': spo2Absent,
  'bodytemp-98.60-degF.json': bodytemp,
  'bodyweight-72.35-kg.json': bodyweight,
  'bodyheight-176.5-cm.json': bodyheight,
  'bmi-23.20.json': bmi,
  'bp-121-79-93.json': bp,
  'bp-status-irregular-pulse.json': bpStatus,
  'ecg-lead-i-rtsa.json': ecg,
  'glucose-capillary-101-mg-dl.json': glucose,
  'glucose-meal-context.json': mealContext,
  'coincident-timestamp.json': coincident,
  'vitalsigns-respiratory-rate.json': vitalsignsOnly,
  'observation-without-profile.json': plainObservation,
  'phd-device-sysid-and-btmac.json': phdDevice,
  'phg-device.json': phgDevice,
  'batch-glucose-and-context.json': batch,
};

const clone = (x) => JSON.parse(JSON.stringify(x, (k, v) => v));
function mutate(base, change) {
  const r = clone(base);
  change(r);
  return r;
}
const withoutVital = (r) => { r.category = r.category.filter((c) => c.coding[0].code !== 'vital-signs'); };
const setLoinc = (code) => (r) => { r.code.coding = r.code.coding.map((c) => (c.system === LOINC ? { ...c, code } : c)); };
const setUnit = (code) => (r) => { r.valueQuantity.code = code; };

// One invalid resource per rule (file name = rule id, optional --variant).
const NEGATIVE = {
  'r4-core.json': mutate(plainObservation, (r) => { r.valueQuantity.precision = 2; }),
  'r4-core--bad-datetime.json': mutate(plainObservation, (r) => { r.effectiveDateTime = '2024-05-06 08:09:10'; }),
  'known-profile.json': mutate(heartrate, (r) => { r.meta.profile.push(`${R4}resprate`); }),
  'profile-resource-type.json': mutate(phdDevice, (r) => { r.meta.profile.push(`${PHD}PhdNumericObservation`); }),
  'observation-status.json': mutate(plainObservation, (r) => { r.status = 'done'; }),
  'vitalsigns-category.json': mutate(heartrate, withoutVital),
  'vitalsigns-subject.json': mutate(vitalsignsOnly, (r) => { delete r.subject; }),
  'vitalsigns-subject--device.json': mutate(vitalsignsOnly, (r) => { r.subject = { reference: 'Device/phd-1' }; }),
  'vitalsigns-effective.json': mutate(vitalsignsOnly, (r) => { r.effectiveDateTime = '2024-05'; }),
  'vitalsigns-value.json': mutate(vitalsignsOnly, (r) => { delete r.valueQuantity; }),
  'vitalsigns-value--component.json': mutate(bp, (r) => { delete r.component[2].valueQuantity; }),
  'vitalsigns-quantity.json': mutate(bodyweight, (r) => { delete r.valueQuantity.unit; }),
  // Only Medplum's evaluation of the StructureDefinition catches this one (slice VSCat 1..1).
  'vitalsigns-profile.json': mutate(vitalsignsOnly, (r) => { r.category.push(clone(r.category[0])); }),
  'heartrate-code.json': mutate(heartrate, setLoinc('8889-8')),
  'heartrate-unit.json': mutate(heartrate, setUnit('{beats}/min')),
  'heartrate-unit--value-string.json': mutate(heartrate, (r) => {
    r.meta.profile = [`${R4}heartrate`];
    delete r.valueQuantity;
    r.valueString = '68';
  }),
  'oxygensat-code.json': mutate(oxygensat, setLoinc('59408-5')),
  'oxygensat-unit.json': mutate(oxygensat, setUnit('percent')),
  'bodytemp-code.json': mutate(bodytemp, setLoinc('8331-1')),
  'bodytemp-unit.json': mutate(bodytemp, setUnit('degF')),
  'bodyweight-code.json': mutate(bodyweight, setLoinc('3141-9')),
  'bodyweight-unit.json': mutate(bodyweight, setUnit('lb')),
  'bodyheight-code.json': mutate(bodyheight, setLoinc('8306-3')),
  'bodyheight-unit.json': mutate(bodyheight, setUnit('m')),
  'bmi-code.json': mutate(bmi, setLoinc('59574-4')),
  'bmi-unit.json': mutate(bmi, setUnit('kg/m^2')),
  'bp-code.json': mutate(bp, setLoinc('55284-4')),
  'bp-systolic.json': mutate(bp, (r) => { r.component.splice(0, 1); }),
  'bp-diastolic.json': mutate(bp, (r) => { r.component.push(clone(r.component[1])); }),
  'bp-component-unit.json': mutate(bp, (r) => { r.component[0].valueQuantity.code = 'mmHg'; }),
  'phd-gateway-device.json': mutate(glucose, (r) => { delete r.extension; }),
  'phd-gateway-device--twice.json': mutate(glucose, (r) => { r.extension = [...GATEWAY, ...GATEWAY]; }),
  'phd-device.json': mutate(glucose, (r) => { delete r.device; }),
  'phd-subject.json': mutate(glucose, (r) => { delete r.subject; }),
  'phd-mdc-code.json': mutate(glucose, (r) => { r.code.coding[0].code = 'MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD'; }),
  'phd-category.json': mutate(glucose, (r) => { r.category = [VITAL]; }),
  'phd-identifier.json': mutate(glucose, (r) => { r.identifier[0].system = 'http://hl7.org/fhir/uv/phd/StructureDefinition/PhdObservation'; }),
  'phd-identifier--typed.json': mutate(glucose, (r) => {
    r.identifier[0].type = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'FILL' }] };
  }),
  'phd-effective-offset.json': mutate(glucose, (r) => { r.effectiveDateTime = '2024-05-06T08:09:10'; }),
  'phd-effective-offset--no-seconds.json': mutate(glucose, (r) => { r.effectiveDateTime = '2024-05-06T08:09+02:00'; }),
  'phd-numeric-value.json': mutate(glucose, (r) => { delete r.valueQuantity.code; }),
  'phd-compound-components.json': mutate(bp, (r) => { r.valueQuantity = { value: 121, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' }; }),
  'phd-coded-value.json': mutate(mealContext, (r) => { delete r.valueCodeableConcept; }),
  'phd-rtsa-value.json': mutate(ecg, (r) => { delete r.valueSampledData.origin.system; }),
  'phd-bits-components.json': mutate(bpStatus, (r) => { delete r.component[0].valueCodeableConcept; r.component[0].valueBoolean = true; }),
  'phd-coincident-timestamp.json': mutate(coincident, (r) => { r.subject = { reference: 'Patient/123' }; }),
  'device-identifier.json': mutate(phdDevice, (r) => { r.identifier = [{ system: 'urn:example:serial', value: 'SN0001' }]; }),
  'device-identifier-format.json': mutate(phdDevice, (r) => { r.identifier[1].value = 'b0:49:5f:00:10:71'; }),
  'device-manufacturer.json': mutate(phdDevice, (r) => { delete r.manufacturer; }),
  'device-model.json': mutate(phgDevice, (r) => { delete r.modelNumber; }),
  'phd-device-type.json': mutate(phdDevice, (r) => { r.type.coding[0].code = '531981'; }),
  'phg-device-type.json': mutate(phgDevice, (r) => { r.type.coding[0].code = '65573'; }),
};

function write(dir, name, resource) {
  const text = `${JSON.stringify(resource, (k, v) => (v && v.__raw ? `@@RAW:${v.__raw}@@` : v), 2)
    .replace(/"@@RAW:([^@]+)@@"/g, '$1')}\n`;
  fs.writeFileSync(path.join(__dirname, dir, name), text);
}

for (const dir of ['positive', 'negative']) {
  fs.mkdirSync(path.join(__dirname, dir), { recursive: true });
  for (const f of fs.readdirSync(path.join(__dirname, dir))) {
    if (f.endsWith('.json') && f !== 'worked-example-4.7-transaction.json') fs.unlinkSync(path.join(__dirname, dir, f));
  }
}
for (const [name, r] of Object.entries(POSITIVE)) write('positive', name, r);
for (const [name, r] of Object.entries(NEGATIVE)) write('negative', name, r);
console.log(`${Object.keys(POSITIVE).length} positive and ${Object.keys(NEGATIVE).length} negative files written`);
