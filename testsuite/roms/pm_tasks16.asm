; 16-bit task-state segments (types 1 and 3) from a 32-bit task: CALL and
; IRET back through the link, JMP there and back, task gates in the IDT
; (with an exception's error code pushed as a word), busy bits, NT, the
; 16-bit TSS field layout (SDM vol. 3 §8.6, figure 8-11: link 0, SP0/SS0
; 2/4, IP 0x0E, FLAGS 0x10, AX..DI 0x12-0x20, ES/CS/SS/DS 0x22-0x28,
; LDT 0x2A) and the ring-0 stack of a 16-bit TSS (SDM vol. 3 §7-8, task
; management; vol. 2 CALL, JMP, IRET "TASK-RETURN").
%include "harness.inc"

TSS16_B        equ 0x3200
SEL_TSS16_B    equ 0x40         ; 16-bit TSS B
SEL_SMALL16    equ 0x48         ; a 16-bit TSS descriptor, limit 0x2A
SEL_BUSY16     equ 0x50         ; a busy 16-bit TSS descriptor (type 3)
SEL_R3_CODE16  equ 0x58         ; 16-bit code, base 0xF0000, DPL 3
SEL_R3_STACK16 equ 0x60         ; 16-bit data, base 0x10000, DPL 3

; A 16-bit TSS is 44 bytes (0x00-0x2B). Table 6-6 of the SDM words the
; minimum as "limit less than 2CH" while the 80286 manual gives 2BH; B's
; descriptor uses 0x2F to be valid under both readings, the short one 0x2A
; to be invalid under both.
TSS16_LIMIT    equ 0x2F
B_SP           equ 0x8000

; INIT_TSS16_B entry: a fresh ring-0 16-bit TSS B starting at `entry`
; (SEL_CODE16), on SEL_DATA16:B_SP, CX = 0xB0B0, available.
%macro INIT_TSS16_B 1
    mov edi, TSS16_B
    mov ecx, 0x30 / 4
    xor eax, eax
    rep stosd
    mov word [TSS16_B + 0x0E], CODE16_OFF(%1)   ; IP
    mov word [TSS16_B + 0x10], 0x0002           ; FLAGS
    mov word [TSS16_B + 0x14], 0xB0B0           ; CX
    mov word [TSS16_B + 0x1A], B_SP             ; SP
    mov word [TSS16_B + 0x22], SEL_DATA32       ; ES
    mov word [TSS16_B + 0x24], SEL_CODE16       ; CS
    mov word [TSS16_B + 0x26], SEL_DATA16       ; SS
    mov word [TSS16_B + 0x28], SEL_DATA32       ; DS
    SET_DESC SEL_TSS16_B / 8, TSS16_B, TSS16_LIMIT, 0x81, 0x0
%endmacro

; TSS_TYPE selector: AL = the type nibble of a GDT system descriptor.
%macro TSS_TYPE 1
    mov al, [GDT_BASE + (%1) + 5]
    and al, 0x0F
%endmacro

test_main:
    mov esi, s_hello
    call print
    SET_DESC SEL_R3_CODE16 / 8, 0xF0000, 0xFFFF, 0xFA, 0x0
    SET_DESC SEL_R3_STACK16 / 8, 0x10000, 0xFFFF, 0xF2, 0x0

    ; --- CALL to a 16-bit TSS, IRET back ---------------------------------
    INIT_TSS16_B task_b_call
    mov ecx, 0xA0A0
    BEGIN_EXPECT
    call SEL_TSS16_B:0
    END_EXPECT NO_FAULT, NO_FAULT, "CALL to a 16-bit TSS and IRET back"
    cmp ecx, 0xA0A0
    CHECK "the caller's ECX comes back from its 32-bit TSS"
    cmp word [scratch], SEL_TSS16_B
    CHECK "TR names the 16-bit task inside it"
    cmp word [scratch + 2], SEL_TSS
    CHECK "the 16-bit TSS's link (offset 0) names the caller"
    mov ax, [scratch + 4]
    and ax, 1 << 14
    cmp ax, 1 << 14
    CHECK "NT is set in the called 16-bit task"
    cmp word [scratch + 6], 0xB0B0
    CHECK "CX came from offset 0x14 of the 16-bit TSS"
    cmp byte [scratch + 8], 3
    CHECK "the called 16-bit TSS is busy (type 3)"
    TSS_TYPE SEL_TSS16_B
    cmp al, 1
    CHECK "IRET marks the 16-bit TSS available again (type 1)"
    TSS_TYPE SEL_TSS
    cmp al, 0xB
    CHECK "the calling 32-bit TSS stays busy"
    ; IRET saved task B's state into its 16-bit TSS (§7.3 steps 6-7).
    cmp word [TSS16_B + 0x0E], CODE16_OFF(task_b_call.after_iret)
    CHECK "saved IP (0x0E) is the instruction after the IRET"
    test word [TSS16_B + 0x10], 1 << 14
    CHECK "saved FLAGS (0x10) has NT cleared by the IRET"
    cmp word [TSS16_B + 0x14], 0xDEAD
    CHECK "saved CX at 0x14"
    cmp word [TSS16_B + 0x16], 0x5A5A
    CHECK "saved DX at 0x16"
    cmp word [TSS16_B + 0x1A], B_SP
    CHECK "saved SP at 0x1A"
    cmp word [TSS16_B + 0x22], SEL_DATA16
    CHECK "saved ES at 0x22"
    cmp word [TSS16_B + 0x24], SEL_CODE16
    CHECK "saved CS at 0x24"
    cmp word [TSS16_B + 0x26], SEL_DATA16
    CHECK "saved SS at 0x26"
    cmp word [TSS16_B + 0x28], SEL_DATA32
    CHECK "saved DS at 0x28"

    ; --- JMP to a 16-bit TSS and JMP back ---------------------------------
    INIT_TSS16_B task_b_jmp
    mov word [TSS16_B], 0x5555            ; the link: JMP leaves it alone
    mov ecx, 0xA1A1
    BEGIN_EXPECT
    jmp SEL_TSS16_B:0
    END_EXPECT NO_FAULT, NO_FAULT, "JMP to a 16-bit TSS and JMP back"
    cmp ecx, 0xA1A1
    CHECK "the 32-bit task resumes with its registers"
    cmp word [scratch], 0x5555
    CHECK "JMP does not write the link field"
    test word [scratch + 4], 1 << 14
    CHECK "NT is clear in a task entered by JMP"
    cmp byte [scratch + 8], 9
    CHECK "JMP made the old 32-bit TSS available"
    TSS_TYPE SEL_TSS16_B
    cmp al, 1
    CHECK "JMP away made the 16-bit TSS available"
    TSS_TYPE SEL_TSS
    cmp al, 0xB
    CHECK "the 32-bit TSS is busy again"
    str ax
    cmp ax, SEL_TSS
    CHECK "TR is back on the 32-bit task"

    ; --- Busy and too small ---------------------------------------------
    SET_DESC SEL_BUSY16 / 8, TSS16_B, TSS16_LIMIT, 0x83, 0x0
    BEGIN_EXPECT
    call SEL_BUSY16:0
    END_EXPECT 13, SEL_BUSY16, "CALL to a busy 16-bit TSS: #GP(sel)"
    SET_DESC SEL_SMALL16 / 8, TSS16_B, 0x2A, 0x81, 0x0
    BEGIN_EXPECT
    call SEL_SMALL16:0
    END_EXPECT 10, SEL_SMALL16, "16-bit TSS limit below 0x2B: #TS(sel)"

    ; --- A task gate in the IDT to a 16-bit TSS ---------------------------
    INIT_TSS16_B task_b_int
    SET_IDT_GATE 0x40, SEL_TSS16_B, 0, 0x85     ; P, DPL 0, task gate
    mov word [scratch + 10], 0
    BEGIN_EXPECT
    int 0x40
    END_EXPECT NO_FAULT, NO_FAULT, "INT through a task gate to a 16-bit TSS and IRET back"
    cmp word [scratch + 10], 0x1234
    CHECK "the 16-bit interrupt task ran"
    cmp word [scratch + 2], SEL_TSS
    CHECK "the interrupt task's link names the interrupted task"
    mov ax, [scratch + 4]
    and ax, 1 << 14
    cmp ax, 1 << 14
    CHECK "NT is set in the interrupt task"

    ; #GP through a task gate: the error code goes on the new task's
    ; stack, a word for a 16-bit TSS (SDM vol. 3 §6.12.2).
    INIT_TSS16_B task_b_gp
    SET_IDT_GATE 13, SEL_TSS16_B, 0, 0x85
    BEGIN_EXPECT
    mov ax, SEL_TSS
    mov ds, ax
    END_EXPECT 13, SEL_TSS, "#GP through a task gate to a 16-bit TSS"
    cmp word [scratch + 12], B_SP - 2
    CHECK "the error code is one word on the 16-bit task's stack"
    call build_idt

    ; --- The ring-0 stack of a 16-bit TSS ---------------------------------
    ; Task B runs at ring 3; its INT to a ring-0 gate takes SS0:SP0 from
    ; offsets 4 and 2 of its 16-bit TSS.
    INIT_TSS16_B task_b_ring3
    mov word [TSS16_B + 0x24], SEL_R3_CODE16 | 3
    mov word [TSS16_B + 0x26], SEL_R3_STACK16 | 3
    mov word [TSS16_B + 0x28], SEL_DATA3
    mov word [TSS16_B + 0x22], SEL_DATA3
    mov word [TSS16_B + 0x02], 0x7000            ; SP0
    mov word [TSS16_B + 0x04], SEL_DATA16        ; SS0
    SET_IDT_GATE 0x41, SEL_CODE16, CODE16_OFF(ring0_handler16), 0xE6
    BEGIN_EXPECT
    call SEL_TSS16_B:0
    END_EXPECT NO_FAULT, NO_FAULT, "ring-3 16-bit task: INT to ring 0 and task return"
    cmp word [scratch + 14], SEL_DATA16
    CHECK "the ring-0 SS came from SS0 (offset 4)"
    cmp word [scratch + 16], 0x7000 - 10
    CHECK "the ring-0 SP came from SP0 (offset 2), five words pushed"
    cmp word [scratch + 18], 3
    CHECK "the task ran at CPL 3 (from its CS RPL)"
    call build_idt

    jmp finish

; --- Task B variants (16-bit, SEL_CODE16) ------------------------------
bits 16
task_b_call:
    str ax
    mov [scratch], ax
    mov ax, [TSS16_B]
    mov [scratch + 2], ax
    pushf
    pop ax
    mov [scratch + 4], ax
    mov [scratch + 6], cx
    mov al, [GDT_BASE + SEL_TSS16_B + 5]
    and al, 0x0F
    mov [scratch + 8], al
    mov cx, 0xDEAD
    mov dx, 0x5A5A
    mov ax, SEL_DATA16
    mov es, ax
    iret
.after_iret:
    hlt

task_b_jmp:
    mov ax, [TSS16_B]
    mov [scratch], ax
    pushf
    pop ax
    mov [scratch + 4], ax
    mov al, [GDT_BASE + SEL_TSS + 5]
    and al, 0x0F
    mov [scratch + 8], al
    mov ecx, 0xDEAD
    jmp SEL_TSS:0

task_b_int:
    mov word [scratch + 10], 0x1234
    mov ax, [TSS16_B]
    mov [scratch + 2], ax
    pushf
    pop ax
    mov [scratch + 4], ax
    iret

; The #GP task: note the error code, point the interrupted task past the
; faulting instruction (to the test's recovery address), return.
task_b_gp:
    mov [scratch + 12], sp
    pop ax
    movzx eax, ax
    mov [last_error], eax
    mov dword [last_vector], 13
    mov eax, [recover_eip]
    mov [TSS_BASE + 0x20], eax
    iret

task_b_ring3:
    int 0x41
    mov ax, cs
    and ax, 3
    mov [scratch + 18], ax
    iret

ring0_handler16:
    push ds
    push ax
    mov ax, SEL_DATA32
    mov ds, ax
    mov [scratch + 14], ss
    lea ax, [esp + 4]
    mov [scratch + 16], ax
    pop ax
    pop ds
    iret
bits 32

s_hello: db "pm_tasks16: protected mode entered", 10, 0

%include "rom_end.inc"
