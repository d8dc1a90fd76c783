/**
 * JSON Schemas (draft-07) of the Grafana file formats roamwatch provisions, transcribed from
 * Grafana's documentation (Administration → Provisioning: data sources, dashboard providers;
 * Alerting → file provisioning: rules, contact points, notification policies; the dashboard
 * JSON model). They are stricter than Grafana where that catches our own typos
 * (additionalProperties: false on the objects we write), never looser on what Grafana requires.
 */

const str = { type: 'string', minLength: 1 } as const;
const duration = { type: 'string', pattern: '^([0-9]+(ms|s|m|h|d|w))+$' } as const;
/** Grafana uids: at most 40 characters of letters, digits, '-' and '_'. */
const uid = { type: 'string', pattern: '^[a-zA-Z0-9_-]{1,40}$' } as const;
const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const dsRef = {
  type: 'object',
  required: ['type', 'uid'],
  additionalProperties: false,
  properties: { type: str, uid: str },
} as const;

export const datasourcesSchema = {
  type: 'object',
  required: ['apiVersion', 'datasources'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: 1 },
    deleteDatasources: { type: 'array', items: { type: 'object', required: ['name', 'orgId'], properties: { name: str, orgId: { type: 'integer' } } } },
    datasources: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['name', 'type', 'access', 'uid', 'url'],
        additionalProperties: false,
        properties: {
          name: str,
          uid,
          type: str,
          access: { enum: ['proxy', 'direct'] },
          orgId: { type: 'integer', minimum: 1 },
          url: str,
          user: { type: 'string' },
          database: { type: 'string' },
          basicAuth: { type: 'boolean' },
          basicAuthUser: { type: 'string' },
          withCredentials: { type: 'boolean' },
          isDefault: { type: 'boolean' },
          version: { type: 'integer' },
          editable: { type: 'boolean' },
          jsonData: { type: 'object' },
          secureJsonData: stringMap,
        },
      },
    },
  },
} as const;

export const dashboardProvidersSchema = {
  type: 'object',
  required: ['apiVersion', 'providers'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: 1 },
    providers: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['name', 'type', 'options'],
        additionalProperties: false,
        properties: {
          name: str,
          orgId: { type: 'integer', minimum: 1 },
          folder: { type: 'string' },
          folderUid: uid,
          type: { const: 'file' },
          disableDeletion: { type: 'boolean' },
          allowUiUpdates: { type: 'boolean' },
          updateIntervalSeconds: { type: 'integer', minimum: 1 },
          options: {
            type: 'object',
            required: ['path'],
            additionalProperties: false,
            properties: { path: str, foldersFromFilesStructure: { type: 'boolean' } },
          },
        },
      },
    },
  },
} as const;

const alertQuery = {
  type: 'object',
  required: ['refId', 'datasourceUid', 'model'],
  additionalProperties: false,
  properties: {
    refId: str,
    datasourceUid: str,
    queryType: { type: 'string' },
    relativeTimeRange: {
      type: 'object',
      required: ['from', 'to'],
      additionalProperties: false,
      properties: { from: { type: 'integer', minimum: 0 }, to: { type: 'integer', minimum: 0 } },
    },
    model: { type: 'object', required: ['refId'], properties: { refId: str } },
  },
} as const;

export const alertingSchema = {
  type: 'object',
  required: ['apiVersion'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: 1 },
    groups: {
      type: 'array',
      items: {
        type: 'object',
        required: ['orgId', 'name', 'folder', 'interval', 'rules'],
        additionalProperties: false,
        properties: {
          orgId: { type: 'integer', minimum: 1 },
          name: str,
          folder: str,
          interval: duration,
          rules: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              required: ['uid', 'title', 'condition', 'data', 'for', 'noDataState', 'execErrState'],
              additionalProperties: false,
              properties: {
                uid,
                title: str,
                condition: str,
                data: { type: 'array', minItems: 1, items: alertQuery },
                dashboardUid: uid,
                panelId: { type: 'integer', minimum: 1 },
                noDataState: { enum: ['OK', 'NoData', 'Alerting', 'KeepLast'] },
                execErrState: { enum: ['OK', 'Error', 'Alerting', 'KeepLast'] },
                for: duration,
                annotations: stringMap,
                labels: stringMap,
                isPaused: { type: 'boolean' },
              },
            },
          },
        },
      },
    },
    contactPoints: {
      type: 'array',
      items: {
        type: 'object',
        required: ['orgId', 'name', 'receivers'],
        additionalProperties: false,
        properties: {
          orgId: { type: 'integer', minimum: 1 },
          name: str,
          receivers: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              required: ['uid', 'type', 'settings'],
              additionalProperties: false,
              properties: {
                uid,
                type: { enum: ['alertmanager', 'dingding', 'discord', 'email', 'googlechat', 'kafka', 'line', 'opsgenie', 'pagerduty', 'pushover', 'sensugo', 'slack', 'teams', 'telegram', 'threema', 'victorops', 'webex', 'webhook', 'wecom'] },
                settings: { type: 'object' },
                disableResolveMessage: { type: 'boolean' },
              },
            },
          },
        },
      },
    },
    policies: {
      type: 'array',
      items: {
        type: 'object',
        required: ['orgId', 'receiver'],
        additionalProperties: false,
        properties: {
          orgId: { type: 'integer', minimum: 1 },
          receiver: str,
          group_by: { type: 'array', items: str },
          group_wait: duration,
          group_interval: duration,
          repeat_interval: duration,
          routes: {
            type: 'array',
            items: {
              type: 'object',
              required: ['receiver'],
              additionalProperties: false,
              properties: {
                receiver: str,
                object_matchers: { type: 'array', items: { type: 'array', minItems: 3, maxItems: 3, items: [str, { enum: ['=', '!=', '=~', '!~'] }, { type: 'string' }] } },
                group_by: { type: 'array', items: str },
                continue: { type: 'boolean' },
              },
            },
          },
        },
      },
    },
  },
} as const;

const influxTarget = {
  type: 'object',
  required: ['refId', 'datasource', 'query', 'rawQuery', 'resultFormat'],
  additionalProperties: false,
  properties: {
    refId: str,
    datasource: dsRef,
    query: str,
    rawQuery: { const: true },
    resultFormat: { enum: ['time_series', 'table', 'logs'] },
    alias: { type: 'string' },
    hide: { type: 'boolean' },
  },
} as const;

const panel = {
  type: 'object',
  required: ['id', 'type', 'title', 'gridPos'],
  properties: {
    id: { type: 'integer', minimum: 1 },
    type: { enum: ['timeseries', 'stat', 'table', 'state-timeline', 'row', 'text', 'barchart', 'bargauge', 'gauge'] },
    title: str,
    description: { type: 'string' },
    gridPos: {
      type: 'object',
      required: ['x', 'y', 'w', 'h'],
      additionalProperties: false,
      properties: { x: { type: 'integer', minimum: 0, maximum: 23 }, y: { type: 'integer', minimum: 0 }, w: { type: 'integer', minimum: 1, maximum: 24 }, h: { type: 'integer', minimum: 1 } },
    },
    datasource: dsRef,
    targets: { type: 'array', items: influxTarget },
    fieldConfig: { type: 'object', required: ['defaults', 'overrides'], properties: { defaults: { type: 'object' }, overrides: { type: 'array' } } },
    options: { type: 'object' },
    transformations: { type: 'array', items: { type: 'object', required: ['id', 'options'], properties: { id: str, options: { type: 'object' } } } },
    timeFrom: { type: 'string', pattern: '^[0-9]+[smhdwMy]$' },
    interval: { type: 'string' },
  },
} as const;

export const dashboardSchema = {
  type: 'object',
  required: ['uid', 'title', 'schemaVersion', 'panels', 'time', 'templating', 'annotations'],
  properties: {
    uid,
    title: str,
    description: { type: 'string' },
    tags: { type: 'array', items: str },
    timezone: { enum: ['utc', 'browser', ''] },
    schemaVersion: { type: 'integer', minimum: 36 },
    version: { type: 'integer' },
    editable: { type: 'boolean' },
    graphTooltip: { enum: [0, 1, 2] },
    refresh: { type: 'string' },
    time: { type: 'object', required: ['from', 'to'], properties: { from: str, to: str } },
    templating: {
      type: 'object',
      required: ['list'],
      properties: {
        list: {
          type: 'array',
          items: {
            type: 'object',
            required: ['type', 'name', 'query', 'refresh'],
            if: { properties: { type: { const: 'datasource' } } },
            then: { required: ['current'], properties: { query: { const: 'influxdb' }, multi: { const: false }, includeAll: { const: false }, datasource: false, current: { type: 'object', required: ['value'], properties: { value: str } } } },
            else: { required: ['datasource'] },
            properties: {
              type: { enum: ['query', 'datasource'] },
              name: { type: 'string', pattern: '^[a-zA-Z_][a-zA-Z0-9_]*$' },
              datasource: dsRef,
              query: str,
              refresh: { enum: [1, 2] },
              multi: { type: 'boolean' },
              includeAll: { type: 'boolean' },
              allValue: { type: 'string' },
              current: { type: 'object' },
            },
          },
        },
      },
    },
    annotations: {
      type: 'object',
      required: ['list'],
      properties: {
        list: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'datasource', 'enable', 'iconColor'],
            properties: { name: str, datasource: dsRef, enable: { type: 'boolean' }, iconColor: str, query: { type: 'string' }, target: influxTarget },
          },
        },
      },
    },
    panels: { type: 'array', minItems: 1, items: panel },
  },
} as const;
