/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': 'ts-jest',
    '^.+\\.yml$': '<rootDir>/tests/support/yaml-transform.js',
  },
  moduleNameMapper: { '^virtual:config-validator$': '<rootDir>/tests/support/config-validator.js' },
  moduleFileExtensions: ['ts', 'js', 'json', 'yml'],
  testMatch: ['**/tests/**/*.test.ts'],
};
