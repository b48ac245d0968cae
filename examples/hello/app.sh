#!/bin/sh
echo "@GREETING@ from the buildkit plugin example"
